"""The data types that flow through ingest → store → query → UI. Times are float seconds from the start of
the original recording, everywhere."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from rag.errors import AudioragError


class Word(BaseModel):
    start: float
    end: float
    word: str
    probability: float | None = None
    speaker: str | None = None


class Segment(BaseModel):
    id: int
    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)
    speaker: str | None = None  # a label (S1, S2, … from diarization), a name once renamed, or an import's own
    overlap: bool = False  # another voice speaks within it too (the dominant one is `speaker`)

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


def citation_label(title: str, start: float, speaker: str | None = None) -> str:
    """How an answer cites a moment: `[Title @ mm:ss]`, or `[Title @ mm:ss · Speaker]` when the speaker is known
    (the app turns exactly this text into a play link)."""
    who = f" · {speaker}" if speaker else ""
    return f"[{title} @ {format_ts(start)}{who}]"


def unshown(text: str, citations) -> list:
    """The citations whose label the answer text does not show, each moment once: what a source list adds (the CLI's
    and the app's)."""
    rest, seen = [], set()
    for c in citations:
        label = citation_label(c.title, c.start, getattr(c, "speaker", None))
        if label not in text and label not in seen:
            seen.add(label)
            rest.append(c)
    return rest


class Citation(BaseModel):
    episode_id: str
    title: str
    start: float
    end: float
    text: str
    speaker: str | None = None

    @property
    def label(self) -> str:
        return citation_label(self.title, self.start, self.speaker)


class Speaker(BaseModel):
    """One voice in one episode: its diarization label, the name shown for it, how long it speaks, and its voice
    embedding (what proposes a known name in another episode)."""

    episode_id: str
    id: str  # the diarization label, S1, S2, … (never changes)
    name: str  # what segments, citations and exports show (the label until renamed)
    seconds: float = 0.0
    vector: list[float] = Field(default_factory=list)
    engine: str = ""


class VocabEntry(BaseModel):
    """A spelling to keep (rag/vocab.py): a name or term Whisper should write this way, for the whole library
    (`episode_id` None) or for one episode."""

    word: str
    episode_id: str | None = None
    added: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


class Span(BaseModel):
    """The words that answer, picked out of a cited passage: `text == citations[citation].text[start:end]`."""

    text: str
    start: int  # character offsets into the cited passage's text
    end: int
    citation: int = 0  # index into Answer.citations


class Answer(BaseModel):
    """What `ask` returns. `answer` is the text as shown (the lead, then the moment it comes from, with its
    `[Title @ mm:ss]` label once); the parts are here too so an app can lay them out itself."""

    answer: str
    abstained: bool = False
    citations: list[Citation] = Field(default_factory=list)
    lead: str = ""  # the one statement that answers (no label); on abstention the refusal sentence
    lead_by_model: bool = False  # the lead is the model's checked sentence (else a transcript sentence)
    span: Span | None = None  # the extractive answer inside the first cited passage
    query: str | None = None  # the standalone question that was searched (follow-ups are rewritten)
    scope: Literal["library", "episode"] = "library"
    reason: str = ""  # why it answered or refused (scores, checks), for display and the eval

    def to_dict(self, query: str | None = None) -> dict:
        """The JSON every front end prints (`ask --json`, `ask --audio --json`): the fields above, citations with
        times rounded to ms; `query` (the standalone question) when given."""
        out = self.model_dump(mode="json")
        out["citations"] = [{"episode_id": c.episode_id, "title": c.title, "start": round(c.start, 3),
                             "end": round(c.end, 3), "text": c.text, "speaker": c.speaker} for c in self.citations]
        if query is not None:
            out["query"] = query
        return out


def finite(x: float | None, default: float = 0.0) -> float:
    """x as a float, or `default` when it is None, NaN or infinite (what display code does with a bad value)."""
    try:
        x = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return x if math.isfinite(x) else default


def format_ts(seconds: float | None) -> str:
    """mm:ss, or h:mm:ss past an hour ("--:--" for a value that is not a time: None, NaN, infinite)."""
    x = finite(seconds, math.nan)
    if math.isnan(x):
        return "--:--"
    total = max(0, int(x))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


# -- validation at the door ---------------------------------------------------------------------------------------
class InvalidTranscript(AudioragError, ValueError):
    """A transcript (imported or from ASR) with impossible times or no text. One line naming the first bad cue."""


TIME_SLACK = 1.0  # seconds a cue may run past the recording's end (ASR and subtitle timing jitter); clamped


def _bad_time(x: float) -> str | None:
    if not math.isfinite(x):
        return "is not a number" if math.isnan(x) else "is infinite"
    if x < 0:
        return "is negative"
    return None


def validate_transcript(transcript: Transcript, duration: float | None = None) -> Transcript:
    """The one check every imported transcript and ASR result passes before it is stored.

    Some cue must have text; every time must be finite and non-negative, each cue must end at or after its start
    and start no earlier than the one before it, and (when the recording's `duration` is known) lie inside the
    recording — a cue running up to TIME_SLACK past its end is clamped to it. Raises InvalidTranscript naming the
    first bad cue. Returns a copy; the input is not changed.
    """
    if duration is not None and (_bad_time(duration) or duration == 0):
        duration = None
    segments = transcript.segments
    if not any(s.text.strip() for s in segments):
        raise InvalidTranscript("the transcript has no text")
    out: list[Segment] = []
    previous = 0.0
    for n, seg in enumerate(segments):
        where = f"segment {seg.id}" + (f" ({seg.text.strip()[:30]!r})" if seg.text.strip() else "")
        if transcript.has_times:
            for name in ("start", "end"):
                why = _bad_time(getattr(seg, name))
                if why:
                    raise InvalidTranscript(f"{where}: its {name} time {why} ({getattr(seg, name)})")
            if seg.end < seg.start:
                raise InvalidTranscript(f"{where}: ends at {seg.end:.3f} s, before it starts ({seg.start:.3f} s)")
            if n and seg.start < previous:
                raise InvalidTranscript(
                    f"{where}: starts at {seg.start:.3f} s, before the segment above it ({previous:.3f} s): not sorted"
                )
            if duration is not None and seg.end > duration + TIME_SLACK:
                raise InvalidTranscript(
                    f"{where}: ends at {seg.end:.3f} s, after the recording ends ({duration:.3f} s)"
                )
            previous = seg.start
        words = []
        for k, w in enumerate(seg.words):
            why = _bad_time(w.start) or _bad_time(w.end) or ("ends before it starts" if w.end < w.start else None)
            if why:
                raise InvalidTranscript(f"{where}, word {k} ({w.word.strip()[:20]!r}): its time {why}")
            words.append(_clamped(w, duration))
        out.append(_clamped(seg, duration).model_copy(update={"words": words}))
    total = transcript.duration
    if total is not None and _bad_time(total):
        total = None
    return transcript.model_copy(update={"segments": out, "duration": duration or total})


def _clamped(item, duration: float | None):
    if duration is None or item.end <= duration:
        return item
    return item.model_copy(update={"start": min(item.start, duration), "end": duration})


class AnswerSettings(BaseModel):
    """How answers are made: the app's Settings panel and the `audiorag ask|chat` flags, kept per conversation.
    Zero for top_p/top_k means off; an empty system prompt keeps the measured answer prompt (rag.prompts)."""

    mode: Literal["extractive", "generative", "hybrid", "model"] | None = None  # None: rag.answer.default_mode
    k: int = Field(5, ge=1, le=30)  # passages retrieved
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(0.0, ge=0.0, le=1.0)
    top_k: int = Field(0, ge=0, le=1000)
    max_tokens: int = Field(80, ge=8, le=2048)  # for the model's part of the answer
    system_prompt: str = ""
    model: str | None = None  # the answering LLM (None: the configured one)


class ChatTurn(BaseModel):
    """One question and its answer, as shown (citations included, so a reopened chat still plays them)."""

    question: str
    query: str | None = None  # the standalone form that was searched
    answer: str = ""
    span: str | None = None  # the words that answered (a follow-up's "he"/"it" may stand for them, rag.followup)
    abstained: bool = False
    stopped: bool = False  # Stop was pressed: `answer` is what had been written by then
    citations: list[Citation] = Field(default_factory=list)
    model: str | None = None
    ttft: float | None = None  # seconds from retrieval done to the model's first token
    tps: float | None = None  # the model's tokens per second
    asked: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


class Conversation(BaseModel):
    id: str
    title: str
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    updated: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    episode: str | None = None  # asked about this episode only (None: the whole library)
    settings: AnswerSettings = Field(default_factory=AnswerSettings)
    turns: list[ChatTurn] = Field(default_factory=list)

    def history(self) -> list[dict]:
        """The turns as chat messages for rag.answer.ask (user turns carry the standalone query)."""
        out: list[dict] = []
        for t in self.turns:
            out += [{"role": "user", "content": t.question, "query": t.query or t.question},
                    {"role": "assistant", "content": t.answer, "span": t.span or ""}]
        return out
