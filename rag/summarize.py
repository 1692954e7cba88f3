"""Per-episode metadata: summary, title, description, tags and chapters, map-reduce over the transcript.

Built for tiny models: the model is only ever asked for one small plain-text thing at a time (a one-sentence
summary of a window, a title, a comma-separated tag list, a chapter heading); our code cleans and validates each
answer, retries once with some temperature, then falls back to something extracted from the transcript itself
(key terms, central sentences). The pieces are assembled into `rag.schema.EpisodeMeta` here, so the JSON is always
well-formed; chapters come from the transcript's own structure (windows of whole segments), so their start times
are real segment times inside the episode. Any length fits: windows are summarized one by one and the partial
summaries are reduced in groups until one is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pydantic import ValidationError

from rag.errors import AudioragError
from rag import prompts
from rag.schema import Chapter, EpisodeMeta, Segment
from rag.summary_text import (  # noqa: F401 — re-exported: callers and tests import them from here
    FRAMING,
    central_sentences,
    clean_line,
    extract_heading,
    grounded,
    key_terms,
    leaked_terms,
    parse_tags,
    phrase_title,
    short_description,
    valid_heading,
    valid_sentences,
)

WINDOW_WORDS = 350  # words of transcript per map step (~450 tokens: fits any model's context with room)
REDUCE_WORDS = 250  # partial summaries reduced together at most
MAX_CHAPTERS = 12
MIN_CHAPTER_SECONDS = 30.0


class SummarizeError(AudioragError, RuntimeError):
    """Metadata that could not be produced or did not validate; the message is one line."""


@dataclass
class Report:
    """Which fields the model wrote and which fell back to extraction (shown by the CLI, measured in docs)."""

    model_fields: list[str] = field(default_factory=list)
    fallback_fields: list[str] = field(default_factory=list)
    calls: int = 0

    def note(self, name: str, from_model: bool) -> None:
        (self.model_fields if from_model else self.fallback_fields).append(name)


# -- pure helpers ----------------------------------------------------------------------------------------------
def windows(segments: list[Segment], max_words: int = WINDOW_WORDS) -> list[list[Segment]]:
    """Consecutive whole segments, about `max_words` words each."""
    out: list[list[Segment]] = []
    cur: list[Segment] = []
    n = 0
    for s in segments:
        w = len(s.text.split())
        if not w:
            continue
        if cur and n + w > max_words:
            out.append(cur)
            cur, n = [], 0
        cur.append(s)
        n += w
    if cur:
        out.append(cur)
    return out


def window_text(window: list[Segment]) -> str:
    """The segments' text; where a named speaker starts talking, "Name:" before it, so summaries and chapters
    can say who explains what (diarization labels such as S1 are left out: they name nobody)."""
    from rag.voices import is_label

    parts, previous = [], None
    for s in window:
        who = s.speaker if s.speaker and not is_label(s.speaker) else None
        text = s.text.strip()
        parts.append(f"{who}: {text}" if who and who != previous and text else text)
        previous = who or previous
    return " ".join(parts)


def chapter_groups(wins: list[list[Segment]], max_chapters: int = MAX_CHAPTERS,
                   min_seconds: float = MIN_CHAPTER_SECONDS) -> list[list[int]]:
    """Indexes of windows grouped into at most `max_chapters` chapters of at least `min_seconds` each."""
    if not wins:
        return []
    per = -(-len(wins) // max_chapters)  # ceil
    groups = [list(range(i, min(i + per, len(wins)))) for i in range(0, len(wins), per)]
    merged: list[list[int]] = []
    for g in groups:
        span = wins[g[-1]][-1].end - wins[g[0]][0].start
        if merged and span < min_seconds:
            merged[-1] += g
        else:
            merged.append(g)
    if len(merged) > 1:
        first_span = wins[merged[0][-1]][-1].end - wins[merged[0][0]][0].start
        if first_span < min_seconds:
            merged[1] = merged[0] + merged[1]
            merged.pop(0)
    return merged


def _ask(llm, report: Report, messages, validate: Callable[[str], object | None], max_tokens: int,
         source: str = "", one_line: bool = False):
    """The model's answer if it validates and copies nothing from the examples, after at most two tries (greedy,
    then sampled); else None."""
    for temperature in (0.0, 0.5):
        report.calls += 1
        try:
            out = llm.generate(messages, max_tokens=max_tokens, temperature=temperature,
                               stop=["\n"] if one_line else ["\n\n"])
        except Exception as exc:  # noqa: BLE001 — the LLM is broken, not this answer: say so
            raise SummarizeError(f"the LLM failed: {exc}") from exc
        if source and leaked_terms(out, messages, source):
            continue
        value = validate(out)
        if value:
            return value
    return None


STYLES = ("extractive", "abstractive")
DEFAULT_STYLE = "extractive"  # measured: see docs/answers.md


def _summary(wins: list[list[Segment]], full: str, llm, report: Report, style: str,
             progress: Callable[[str], None]) -> str:
    """The episode summary, map-reduce over windows. Extractive: central sentences per window,
    then of those. Abstractive: the model summarizes each window and combines the partials, each answer checked
    against the transcript, falling back to extraction."""
    partials: list[str] = []
    from_model = style == "abstractive"
    for i, w in enumerate(wins, 1):
        text = window_text(w)
        got = None
        if style == "abstractive":
            progress(f"summarizing part {i}/{len(wins)}")
            msgs = prompts.summary_map_messages(text)
            got = _ask(llm, report, msgs, lambda out, src=text: valid_sentences(out, src, max_words=70, min_frac=0.7),
                       max_tokens=90, source=text)
        from_model = from_model and bool(got)
        partials.append(got or central_sentences(text, 2))
    level = partials
    while len(level) > 1:
        groups: list[list[str]] = [[]]
        for p in level:
            if groups[-1] and sum(len(x.split()) for x in groups[-1]) + len(p.split()) > REDUCE_WORDS:
                groups.append([])
            groups[-1].append(p)
        if len(groups) == len(level):  # each partial alone fills a group: pair them so the loop ends
            groups = [level[i:i + 2] for i in range(0, len(level), 2)]
        nxt = []
        for g in groups:
            got = None
            if len(g) > 1 and style == "abstractive":
                progress(f"combining {len(g)} partial summaries")
                msgs = prompts.summary_reduce_messages(g)
                got = _ask(llm, report, msgs, lambda out, src=" ".join(g) + " " + full:
                           valid_sentences(out, src, max_words=90, min_frac=0.7), max_tokens=120, source=full)
                from_model = from_model and bool(got)
            nxt.append(got or (g[0] if len(g) == 1 else central_sentences(" ".join(g), 3)))
        level = nxt
    report.note("summary", from_model)
    return level[0]


def describe(segments: list[Segment], duration: float | None = None, llm=None, settings=None,
             report: Report | None = None, progress: Callable[[str], None] = lambda m: None,
             style: str = DEFAULT_STYLE) -> EpisodeMeta:
    """Summary, title, description, tags and chapters for a transcript. Fields the model could not write (or
    wrote wrongly) are extracted from the transcript; `report` says which were which. A title the model could
    not write is left empty in the report's eyes (`title` in fallback_fields), so callers can keep theirs."""
    if style not in STYLES:
        raise SummarizeError(f"unknown summary style '{style}' (choose from {', '.join(STYLES)})")
    report = report if report is not None else Report()
    segments = [s for s in segments if s.text.strip()]
    if not segments:
        raise SummarizeError("the episode has no transcript text to summarize")
    if llm is None:
        from rag.llm import get_task_llm

        llm = get_task_llm(settings, "summary")
    duration = duration if duration and duration > 0 else max(s.end for s in segments)
    full = window_text(segments)
    wins = windows(segments)
    summary = _summary(wins, full, llm, report, style, progress)

    progress("title, description, tags")
    title = _ask(llm, report, prompts.title_messages(summary),
                 lambda out: (lambda h: h if h and grounded(h, full, 0.5) else None)(valid_heading(out, 2, 10)),
                 max_tokens=20, source=full, one_line=True)
    report.note("title", bool(title))
    title = title or phrase_title(full)

    description = _ask(llm, report, prompts.description_messages(summary),
                       lambda out: valid_sentences(out, full, 5, 40, min_frac=0.6), max_tokens=50, source=full,
                       one_line=True)
    report.note("description", bool(description))
    description = description or short_description(summary)

    tags = _ask(llm, report, prompts.tags_messages(summary),
                lambda out: (lambda t: t if len(t) >= 2 else None)([x for x in parse_tags(out) or [] if grounded(x, full, 0.5)]),
                max_tokens=32, source=full, one_line=True)
    report.note("tags", bool(tags))
    tags = tags or key_terms(full, 5)

    chapters: list[Chapter] = []
    groups = chapter_groups(wins)
    from_model = True
    for n, g in enumerate(groups, 1):
        start = 0.0 if n == 1 else wins[g[0]][0].start
        seg_text = " ".join(window_text(wins[i]) for i in g)
        if len(groups) == 1:
            heading = title if "title" in report.model_fields else None
        else:
            progress(f"chapter {n}/{len(groups)}")
            basis = central_sentences(seg_text, 2)
            heading = _ask(llm, report, prompts.chapter_messages(basis),
                           lambda out, src=seg_text: (lambda h: h if h and grounded(h, src, 0.5) else None)(valid_heading(out, 1, 8)),
                           max_tokens=16, source=seg_text, one_line=True)
        from_model = from_model and bool(heading)
        chapters.append(Chapter(title=heading or extract_heading(seg_text), start=round(min(start, duration), 3)))
    report.note("chapters", from_model)
    return validate_meta({"title": title, "description": description, "summary": summary, "tags": tags,
                          "chapters": [c.model_dump() for c in chapters]}, duration)


def validate_meta(data: dict, duration: float | None) -> EpisodeMeta:
    """EpisodeMeta from assembled fields, with chapter times checked against the episode; one-line error if not."""
    try:
        meta = EpisodeMeta.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SummarizeError(f"metadata did not validate: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    starts = [c.start for c in meta.chapters]
    if starts != sorted(starts) or len(set(starts)) != len(starts):
        raise SummarizeError("metadata did not validate: chapter starts are not strictly increasing")
    if duration is not None and any(not (0 <= s <= duration) for s in starts):
        raise SummarizeError(f"metadata did not validate: a chapter starts outside the episode (0–{duration:.1f} s)")
    if not meta.title.strip() or not meta.summary.strip():
        raise SummarizeError("metadata did not validate: empty title or summary")
    return meta


def summarize_episode(episode_ref: str, *, settings=None, store=None, llm=None, keep_title: bool = False,
                      style: str = DEFAULT_STYLE, progress: Callable[[str], None] = lambda m: None
                      ) -> tuple[EpisodeMeta, Report]:
    """Describe one stored episode and store the result on it. The title is replaced only by one the model wrote
    (and validated), and only while the episode still has the title made from its file name — never with
    keep_title — so a title someone chose is kept. The returned metadata carries the title the episode has."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    if store is None:
        from rag.store import Store

        store = Store(settings)
    ep = store.require_episode(episode_ref, SummarizeError)
    report = Report()
    meta = describe(store.segments(ep.id), ep.duration, llm=llm, settings=settings, report=report,
                    progress=progress, style=style)
    fields = {"summary": meta.summary, "description": meta.description, "tags": meta.tags,
              "chapters": meta.chapters}
    if not keep_title and "title" in report.model_fields and _auto_title(ep):
        fields["title"] = meta.title
    else:
        meta = meta.model_copy(update={"title": ep.title})
    store.set_episode_fields(ep.id, **fields)
    return meta, report


def _auto_title(ep) -> bool:
    from pathlib import Path

    from ingest.pipeline import title_from_path

    return ep.title == title_from_path(Path(ep.source))
