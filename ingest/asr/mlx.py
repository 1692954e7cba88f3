"""mlx-whisper backend.

mlx_whisper.transcribe() loads its model through a one-slot class cache (`ModelHolder`) keyed by
`path_or_hf_repo`; a path that does not exist becomes a hub download. We load the model ourselves (local folder,
our dtype, the alignment heads from the pack, which mlx-whisper's loader ignores — without them word times drift
60–90 ms), put it into that slot under its own path, and hold a lock while transcribing so two models in one
process never swap each other out mid-call.
"""

from __future__ import annotations

import importlib
import json
import threading
from pathlib import Path

import numpy as np

from ingest.asr.base import SAMPLE_RATE, check_audio, resolve_folder, vocabulary_prompt, words_in_order
from rag.schema import Segment, Transcript, Word

_LOCK = threading.Lock()  # mlx_whisper.transcribe's ModelHolder is process-global
_NUMBA_WARM = False


def _transcribe_module():
    # `mlx_whisper.transcribe` the attribute is the function; the module holds ModelHolder.
    return importlib.import_module("mlx_whisper.transcribe")


def warm_numba() -> None:
    """Compile mlx-whisper's numba DTW once per process (seconds), so the first file's timing is honest."""
    global _NUMBA_WARM
    if _NUMBA_WARM:
        return
    from mlx_whisper.timing import dtw

    dtw(np.random.default_rng(0).random((8, 6)).astype(np.float32))
    _NUMBA_WARM = True


def load_mlx_whisper(folder: Path | str, dtype_name: str | None = None):
    """An mlx-whisper model from a local folder (or a hub id when downloads are allowed), in our dtype, with the
    folder's alignment heads when it has them."""
    from rag.runtime import default_dtype_name, mx

    m = mx()
    from mlx.utils import tree_map
    from mlx_whisper.load_models import load_model

    dtype = getattr(m, dtype_name or default_dtype_name())
    model = load_model(str(folder), dtype=dtype)
    # Hub folders often store float16: on a CPU that is 30x slower than float32, so cast to what we run in.
    params = model.parameters()
    model.update(tree_map(lambda p: p.astype(dtype) if m.issubdtype(p.dtype, m.floating) else p, params))
    heads_file = Path(folder) / "alignment_heads.json"
    if heads_file.is_file():
        heads = np.asarray(json.loads(heads_file.read_text()), dtype=np.int32).reshape(-1, 2)
        model.set_alignment_heads(heads)
    m.eval(model.parameters())
    return model


class MlxWhisper:
    name = "mlx"

    def __init__(self, folder: Path | str, model_name: str):
        from rag.runtime import default_dtype_name

        self.folder = folder
        self.model_name = model_name
        self.dtype_name = default_dtype_name()
        self.model = load_mlx_whisper(folder, self.dtype_name)
        self._key = str(folder)
        warm_numba()

    def transcribe(
        self, audio: np.ndarray, *, language: str | None = None, word_timestamps: bool = True
    ) -> Transcript:
        audio = check_audio(audio)
        tm = _transcribe_module()
        with _LOCK:
            tm.ModelHolder.model = self.model
            tm.ModelHolder.model_path = self._key
            result = tm.transcribe(
                audio,  # an array, never a path: a path makes mlx-whisper run the ffmpeg binary
                path_or_hf_repo=self._key,
                fp16=self.dtype_name == "float16",
                word_timestamps=word_timestamps,
                language=language,
                initial_prompt=vocabulary_prompt(),  # the vocabulary (mlx-whisper has no hotwords)
                verbose=None,
            )
        return to_transcript(result, self.model_name, len(audio) / SAMPLE_RATE, word_timestamps)


def to_transcript(result: dict, model_name: str, duration: float, word_timestamps: bool) -> Transcript:
    """mlx-whisper's (= openai-whisper's) result dict → our schema; segment ids 0..n-1, empty segments dropped."""
    segments: list[Segment] = []
    for seg in result.get("segments", []):
        text = seg["text"].strip()
        if not text:
            continue
        start, end = float(seg["start"]), float(seg["end"])
        end = max(end, start)
        words = [
            Word(start=float(w["start"]), end=float(w["end"]), word=w["word"].strip(), probability=float(w["probability"]))
            for w in seg.get("words", []) or []
            if w["word"].strip()
        ]
        segments.append(
            Segment(id=len(segments), start=start, end=end, text=text, words=words_in_order(words, start, end))
        )
    return Transcript(
        segments=segments,
        language=result.get("language"),
        model=model_name,
        duration=duration,
        has_word_times=word_timestamps,
    )


def load(spec: str, settings) -> "MlxWhisper":
    """The `mlx` ASR backend's factory (rag.plugins)."""
    folder, name = resolve_folder(spec, settings, "mlx")
    return MlxWhisper(folder, name)
