"""The data types that flow through ingest → store → query → UI. Times are float seconds from the start of
the original recording, everywhere."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator


class Word(BaseModel):
    start: float
    end: float
    word: str
    probability: float | None = None


class Segment(BaseModel):
    id: int
    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)
    speaker: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Segment":
        if self.end < self.start:
            raise ValueError(f"segment {self.id}: end {self.end} before start {self.start}")
        return self


class Transcript(BaseModel):
    segments: list[Segment]
    language: str | None = None
    model: str | None = None  # the ASR model (or importer) that made it
    duration: float | None = None
    has_word_times: bool = False
    has_times: bool = True  # False for plain-text imports: such a transcript cannot be cited by time

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()


EpisodeStatus = Literal["processing", "ready", "failed"]


class Chapter(BaseModel):
    title: str
    start: float


class EpisodeMeta(BaseModel):
    """What the LLM writes about an episode (validated before it is stored)."""

    title: str
    description: str
    summary: str
    tags: list[str] = Field(default_factory=list)
    chapters: list[Chapter] = Field(default_factory=list)

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, tags: list[str]) -> list[str]:
        seen: list[str] = []
        for t in tags:
            t = t.strip().lower()
            if t and t not in seen:
                seen.append(t)
        return seen


class Episode(BaseModel):
    id: str  # derived from the audio (or transcript) bytes
    title: str
    source: str  # original path or upload name
    duration: float | None = None
    language: str | None = None
    status: EpisodeStatus = "processing"
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    audio_path: str | None = None  # the library's own copy, for playback
    asr_model: str | None = None
    settings_key: str | None = None  # what processing settings made it (a change re-processes)
    tags: list[str] = Field(default_factory=list)
    summary: str | None = None
    description: str | None = None
    chapters: list[Chapter] = Field(default_factory=list)


class Chunk(BaseModel):
    id: str
    episode_id: str
    start: float
    end: float
    text: str
    segment_ids: list[int]


class SearchHit(BaseModel):
    chunk_id: str
    episode_id: str
    title: str
    start: float
    end: float
    text: str
    score: float = 0.0
    segment_ids: list[int] = Field(default_factory=list)  # the chunk's segments, for citing the exact moment


def citation_label(title: str, start: float) -> str:
    """How an answer cites a moment: `[Title @ mm:ss]` (the app turns exactly this text into a play link)."""
    return f"[{title} @ {format_ts(start)}]"


class Citation(BaseModel):
    episode_id: str
    title: str
    start: float
    end: float
    text: str

    @property
    def label(self) -> str:
        return citation_label(self.title, self.start)


class Answer(BaseModel):
    answer: str
    abstained: bool = False
    citations: list[Citation] = Field(default_factory=list)


def format_ts(seconds: float) -> str:
    """mm:ss, or h:mm:ss past an hour."""
    total = max(0, int(seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
