"""Speech → timed transcript. One protocol, two local backends and a remote one:

- `mlx`: mlx-whisper on the pack's `mlx/` folder (the fast path on Apple silicon; float32 + OpenBLAS on Linux).
- `ctranslate2`: faster-whisper int8 on the pack's `ct2/` folder (the fast path on x86 CPUs).
- `openai`: a transcription server (`asr.base_url`; vLLM, faster-whisper-server, …), see ingest/asr/openai.py.

`auto` picks mlx on Apple silicon and ctranslate2 elsewhere. Audio is always a 16 kHz mono float32 numpy array:
decoding files is ingest/decode.py's job, so no backend ever shells out to ffmpeg.
"""

from __future__ import annotations

import threading

from ingest.asr.base import (  # noqa: F401  (re-exported: the ASR vocabulary in one import)
    SAMPLE_RATE,
    AsrBackend,
    check_audio,
    heard,
    model_folder,
    note,
    noting,
    prompting,
    reporting,
    resolve_folder,
    vocabulary,
    vocabulary_prompt,
    words_in_order,
)
from rag import plugins
from rag.models import ModelError

BACKENDS = ("mlx", "ctranslate2")  # the local ones
REMOTE = "openai"

_CACHE: dict[tuple, AsrBackend] = {}  # by (backend, folder), and by (backend, spec, models dir) for quick hits
_CACHE_LOCK = threading.Lock()


def choose_backend(requested: str | None) -> str:
    """The concrete backend for a setting: auto → mlx on Apple silicon, ctranslate2 elsewhere; any other name
    is a built-in or plugin backend (rag.plugins)."""
    from rag.runtime import is_apple_silicon

    choice = (requested or "auto").strip().lower()
    if choice == "auto":
        return "mlx" if is_apple_silicon() else "ctranslate2"
    if choice not in plugins.names("asr"):
        raise ModelError(f"unknown asr backend '{requested}'; use auto, {', '.join(plugins.names('asr'))}")
    return choice


def get_asr(settings=None, backend: str | None = None) -> AsrBackend:
    """The ASR backend for the settings (`settings.asr.model`, `settings.asr.backend`), loaded once per process
    for each (backend, model) through its factory in rag.plugins."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    choice = choose_backend(backend or settings.asr.backend)
    key = (choice, settings.asr.model, str(settings.models_path))
    if choice not in BACKENDS:  # a server or a plugin: the whole role's settings matter
        key += (settings.asr.model_dump_json(),)
    with _CACHE_LOCK:  # a model this process holds already: no pack check, no folder resolving
        if key not in _CACHE:
            _CACHE[key] = plugins.factory("asr", choice)(settings.asr.model, settings)
        return _CACHE[key]
