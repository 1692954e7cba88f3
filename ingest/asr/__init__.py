"""Speech → timed transcript. One protocol, two local backends and a remote one:

- `mlx`: mlx-whisper on the pack's `mlx/` folder (the fast path on Apple silicon; float32 + OpenBLAS on Linux).
- `ctranslate2`: faster-whisper int8 on the pack's `ct2/` folder (the fast path on x86 CPUs).
- `openai`: a transcription server (`asr.base_url`; vLLM, faster-whisper-server, …), see ingest/asr/openai.py.

`auto` picks mlx on Apple silicon and ctranslate2 elsewhere. Audio is always a 16 kHz mono float32 numpy array:
decoding files is ingest/decode.py's job, so no backend ever shells out to ffmpeg.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from ingest.decode import SAMPLE_RATE  # noqa: F401  (re-exported: the rate every backend is fed)
from rag.models import PACKS, ModelError
from rag.schema import Transcript

BACKENDS = ("mlx", "ctranslate2")  # the local ones
REMOTE = "openai"


_heard: contextvars.ContextVar[Callable[[float], None] | None] = contextvars.ContextVar("heard", default=None)


@contextlib.contextmanager
def reporting(callback: Callable[[float], None]):
    """While the block runs, a backend that decodes piece by piece reports how far it has got through heard():
    `callback(seconds of audio transcribed)`. A context variable, so concurrent ingests keep their own."""
    token = _heard.set(callback)
    try:
        yield
    finally:
        _heard.reset(token)


def heard(seconds: float) -> None:
    """Report that the audio up to `seconds` is transcribed (a no-op outside `reporting`)."""
    callback = _heard.get()
    if callback is not None:
        callback(float(seconds))


@runtime_checkable
class AsrBackend(Protocol):
    name: str  # "mlx" | "ctranslate2" | "openai"
    model_name: str  # pack name, folder name or hub id: what Transcript.model says

    def transcribe(
        self, audio: np.ndarray, *, language: str | None = None, word_timestamps: bool = True
    ) -> Transcript: ...


_CACHE: dict[tuple, AsrBackend] = {}  # by (backend, folder), and by (backend, spec, models dir) for quick hits
_CACHE_LOCK = threading.Lock()


def choose_backend(requested: str | None) -> str:
    """The concrete backend for a setting: auto → mlx on Apple silicon, ctranslate2 elsewhere."""
    from rag.runtime import is_apple_silicon

    choice = (requested or "auto").strip().lower()
    if choice == "auto":
        return "mlx" if is_apple_silicon() else "ctranslate2"
    if choice == REMOTE:
        return choice
    if choice not in BACKENDS:
        raise ModelError(f"unknown asr backend '{requested}'; use auto, mlx, ctranslate2 or openai")
    return choice


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


def get_asr(settings=None, backend: str | None = None) -> AsrBackend:
    """The ASR backend for the settings (`settings.asr.model`, `settings.asr.backend`), loaded once per process
    for each (backend, model folder)."""
    from rag.models.resolve import resolve_model
    from rag.settings import get_settings

    settings = settings or get_settings()
    choice = choose_backend(backend or settings.asr.backend)
    if choice == REMOTE:  # a server: nothing to load here (its local fallback loads on first use)
        key = (choice, settings.asr.model_dump_json())
        with _CACHE_LOCK:
            if key not in _CACHE:
                from ingest.asr.openai import OpenAIWhisper

                _CACHE[key] = OpenAIWhisper(settings)
            return _CACHE[key]
    spec = settings.asr.model
    spec_key = (choice, spec, str(settings.models_path))
    with _CACHE_LOCK:  # a model this process holds already: no pack check, no folder resolving
        if spec_key in _CACHE:
            return _CACHE[spec_key]
    folder = model_folder(resolve_model(spec, "asr", settings), choice)
    model_name = spec if spec in PACKS or isinstance(folder, str) else Path(spec).expanduser().resolve().name
    key = (choice, str(folder))
    with _CACHE_LOCK:
        asr = _CACHE.get(key)
        if asr is None:
            if choice == "mlx":
                from ingest.asr.mlx import MlxWhisper

                asr = MlxWhisper(folder, model_name)
            else:
                from ingest.asr.ctranslate2 import CTranslate2Whisper

                asr = CTranslate2Whisper(folder, model_name, local_files_only=not isinstance(folder, str))
            _CACHE[key] = asr
        _CACHE[spec_key] = asr
    return asr


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
