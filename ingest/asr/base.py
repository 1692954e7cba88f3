"""What every speech-to-text backend shares: the protocol, the audio it is fed, and the checks on what it returns.

Backends (ingest/asr/mlx.py, ctranslate2.py, openai.py, or a plugin's) import from here, never from the package:
the package (ingest/asr/__init__.py) chooses and caches backends through rag.plugins.
"""

from __future__ import annotations

import contextlib
import contextvars
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from ingest.decode import SAMPLE_RATE  # noqa: F401  (re-exported: the rate every backend is fed)
from rag.models import PACKS, ModelError
from rag.schema import Transcript


@contextlib.contextmanager
def _holding(var: contextvars.ContextVar, value):
    """`var` set to `value` while the block runs (context variables: concurrent ingests keep their own)."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


_heard: contextvars.ContextVar[Callable[[float], None] | None] = contextvars.ContextVar("heard", default=None)


def reporting(callback: Callable[[float], None]):
    """While the block runs, a backend that decodes piece by piece reports how far it has got through heard():
    `callback(seconds of audio transcribed)`. A context variable, so concurrent ingests keep their own."""
    return _holding(_heard, callback)


def heard(seconds: float) -> None:
    """Report that the audio up to `seconds` is transcribed (a no-op outside `reporting`)."""
    callback = _heard.get()
    if callback is not None:
        callback(float(seconds))


_notes: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar("notes", default=None)


def noting(callback: Callable[[str], None]):
    """While the block runs, a backend tells what the user should know about this file through note() — e.g.
    that the server was down and the file was transcribed locally instead; ingest shows it with the file."""
    return _holding(_notes, callback)


def note(text: str) -> None:
    """Say something about the file being transcribed (a no-op outside `noting`)."""
    callback = _notes.get()
    if callback is not None:
        callback(text)


# What Whisper is given of the vocabulary at most: its prompt holds 223 tokens, and the text before each window
# needs room too.
PROMPT_CHARS = 400
_vocabulary: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("vocabulary", default=())


def prompting(words: list[str] | tuple[str, ...]):
    """While the block runs, backends that can be told how to spell names read them through vocabulary(): the
    episode's vocabulary (rag/vocab.py). A context variable like `reporting`, so a plugin backend that knows
    nothing of it keeps working. The first words that fit in PROMPT_CHARS (put an episode's own first)."""
    kept, used = [], 0
    for w in words:
        used += len(w) + 2
        if used > PROMPT_CHARS:
            break
        kept.append(w)
    return _holding(_vocabulary, tuple(kept))


def vocabulary() -> tuple[str, ...]:
    """The spellings to give Whisper now (empty outside `prompting`)."""
    return _vocabulary.get()


def vocabulary_prompt() -> str | None:
    """The vocabulary as Whisper's initial prompt: "Rollo, Davies." (None when there is none). A plain list
    worked better than "Glossary: …" with tiny.en (docs/vocabulary.md)."""
    words = vocabulary()
    return ", ".join(words) + "." if words else None


@runtime_checkable
class AsrBackend(Protocol):
    name: str  # "mlx" | "ctranslate2" | "openai"
    model_name: str  # pack name, folder name or hub id: what Transcript.model says

    def transcribe(
        self, audio: np.ndarray, *, language: str | None = None, word_timestamps: bool = True
    ) -> Transcript: ...


def model_folder(resolved: Path | str, backend: str) -> Path | str:
    """The folder a backend loads: a pack's `mlx/` or `ct2/`, or a plain user folder used as is."""
    if isinstance(resolved, str):  # a hub id (downloads allowed): the backend's own loader fetches it
        return resolved
    sub = resolved / ("mlx" if backend == "mlx" else "ct2")
    folder = sub if sub.is_dir() else resolved
    if backend == "mlx":
        if not (folder / "config.json").is_file() or not any(
            (folder / w).is_file() for w in ("weights.safetensors", "weights.npz")
        ):
            raise ModelError(f"{folder} is not an mlx-whisper model folder (needs config.json and weights.safetensors)")
    elif not (folder / "model.bin").is_file():
        raise ModelError(f"{folder} is not a CTranslate2 Whisper folder (needs model.bin); try --asr-backend mlx")
    return folder


def resolve_folder(spec: str, settings, backend: str) -> tuple[Path | str, str]:
    """(the folder `backend` loads for model `spec`, the model's name as transcripts record it)."""
    from rag.models.resolve import resolve_model

    folder = model_folder(resolve_model(spec, "asr", settings), backend)
    name = spec if spec in PACKS or isinstance(folder, str) else Path(spec).expanduser().resolve().name
    return folder, name


def check_audio(audio: np.ndarray) -> np.ndarray:
    """A contiguous 1-D float32 array, or a clear error (stereo or int16 input is a caller bug)."""
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"ASR wants mono 16 kHz audio as a 1-D array, got shape {audio.shape}")
    if audio.dtype.kind != "f":
        raise ValueError(f"ASR wants float audio in [-1, 1], got {audio.dtype}")
    return np.ascontiguousarray(audio, dtype=np.float32)


def words_in_order(words: list, seg_start: float, seg_end: float) -> list:
    """Word times clipped into their segment and made non-decreasing: Whisper's DTW alignment can put a word
    a few ms outside its segment or before its predecessor, and every consumer (citations, subtitles) assumes
    order."""
    out = []
    t = seg_start
    for w in words:
        start = min(max(w.start, t), seg_end)
        end = min(max(w.end, start), seg_end)
        out.append(w.model_copy(update={"start": start, "end": end}))
        t = start
    return out
