"""LLM transcript cleanup (`--enhance`): punctuation, casing and fillers, segment by segment, times untouched.

Segments go to the model in small batches as numbered lines `[id] text`, and must come back as exactly the same
ids in the same order. Our code, not the model, owns the structure:
- a batch whose output drops, merges, splits, reorders or invents lines is rejected whole and its raw text kept;
- a single line whose words changed too much (new words the speaker never said, or words lost beyond fillers) keeps
  its raw text, while the rest of its batch is accepted.
Every segment keeps its id, start, end, words and speaker; only `text` can change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

from rag import prompts
from rag.schema import Transcript

FILLERS = frozenset("um uh er erm ah hmm mm mhm uhm like you know i mean sort of kind of".split())
_LINE = re.compile(r"^\s*\[(\d+)\]\s?(.*)$")
_WORD = re.compile(r"[\w']+", re.UNICODE)

# A cleaned line may add at most this fraction of words not in the raw line (e.g. "Doctor" for "dr"), and must keep
# at least this fraction of the raw line's non-filler words.
MAX_NEW_WORDS = 0.15
MIN_KEPT_WORDS = 0.85


@dataclass
class EnhanceStats:
    segments: int = 0
    batches: int = 0
    accepted_batches: int = 0
    rejected_batches: int = 0
    changed: int = 0  # segments whose text the model improved (and we kept)
    kept_raw: int = 0  # lines of accepted batches that changed too much and kept their raw text
    reasons: list[str] = field(default_factory=list)  # why each rejected batch was rejected


@dataclass
class EnhanceResult:
    transcript: Transcript
    stats: EnhanceStats


def parse_lines(output: str) -> tuple[list[tuple[int, str]], list[str]]:
    """([(id, text)] for every `[id] text` line, [stray non-empty lines that are not numbered])."""
    numbered: list[tuple[int, str]] = []
    stray: list[str] = []
    for line in output.strip().splitlines():
        m = _LINE.match(line)
        if m:
            numbered.append((int(m.group(1)), m.group(2).strip()))
        elif line.strip():
            stray.append(line.strip())
    return numbered, stray


def _norm_words(text: str) -> list[str]:
    return [w.lower().strip("'") for w in _WORD.findall(text)]


def line_ok(raw: str, cleaned: str, keep: frozenset[str] = frozenset()) -> bool:
    """Cleaned text says the same words as the raw text, give or take fillers, punctuation and casing; a
    vocabulary word of the raw text (`keep`, lower-case) must still be there as it was spelled."""
    if not cleaned.strip():
        return not raw.strip()
    rw, cw = _norm_words(raw), _norm_words(cleaned)
    raw_set, clean_set = set(rw), set(cw)
    if (raw_set & keep) - clean_set:
        return False
    new = [w for w in cw if w not in raw_set]
    if cw and len(new) / len(cw) > MAX_NEW_WORDS:
        return False
    content = [w for w in rw if w not in FILLERS]
    if content:
        kept = sum(1 for w in content if w in clean_set)
        if kept / len(content) < MIN_KEPT_WORDS:
            return False
    return len(cw) <= len(rw) + 3


def check_batch(batch: list[tuple[int, str]], output: str, keep: frozenset[str] = frozenset()
                ) -> tuple[list[str] | None, str]:
    """The cleaned texts for `batch` (raw text where a line changed too much), or (None, why the batch is rejected)."""
    numbered, stray = parse_lines(output)
    want = [i for i, _ in batch]
    got = [i for i, _ in numbered]
    if stray:
        return None, f"unnumbered text in the output ({stray[0][:40]!r})"
    if got != want:
        missing = [i for i in want if i not in got]
        extra = [i for i in got if i not in want]
        if missing:
            return None, f"segments dropped or merged: {missing}"
        if extra:
            return None, f"segments invented: {extra}"
        return None, "segments reordered or repeated"
    texts = []
    for (_, raw), (_, cleaned) in zip(batch, numbered):
        texts.append(cleaned if line_ok(raw, cleaned, keep) else raw)
    return texts, "ok"


def enhance_transcript(transcript: Transcript, settings=None, *, llm=None, batch_size: int = 8,
                       temperature: float = 0.0, progress: Callable[[int, int], None] = lambda done, total: None,
                       vocabulary: Iterable[str] = ()) -> EnhanceResult:
    """A copy of `transcript` with cleaned segment texts; ids, times and words unchanged. A line that loses a
    word of the `vocabulary` keeps its raw text (the model may "correct" a name it does not know), and the
    vocabulary's casing is put back."""
    keep = frozenset(w for entry in vocabulary for w in _norm_words(entry))
    if llm is None:
        from rag.llm import get_llm

        llm = get_llm(settings)
    stats = EnhanceStats(segments=len(transcript.segments))
    segments = [s.model_copy() for s in transcript.segments]
    todo = [i for i, s in enumerate(segments) if s.text.strip()]
    for b in range(0, len(todo), batch_size):
        idx = todo[b:b + batch_size]
        batch = [(segments[i].id, segments[i].text) for i in idx]
        stats.batches += 1
        words = sum(len(t.split()) for _, t in batch)
        try:
            out = llm.generate(prompts.enhance_messages(batch), max_tokens=int(words * 2.2) + 8 * len(batch) + 16,
                               temperature=temperature, stop=["\n\n"])
        except Exception as exc:  # noqa: BLE001 — a failed call keeps the raw text, like a bad answer
            out, reason = None, f"LLM error: {exc}"
        texts, reason = check_batch(batch, out, keep) if out is not None else (None, reason)
        if texts is None:
            stats.rejected_batches += 1
            stats.reasons.append(f"segments {batch[0][0]}–{batch[-1][0]}: {reason}")
        else:
            stats.accepted_batches += 1
            for i, (raw_id, raw), new in zip(idx, batch, texts):
                if new == raw and _changed_but_refused(raw, out, raw_id, keep):
                    stats.kept_raw += 1
                elif new != raw:
                    stats.changed += 1
                    segments[i] = segments[i].model_copy(update={"text": new})
        progress(min(b + batch_size, len(todo)), len(todo))
    from ingest.normalize import respell_transcript

    return EnhanceResult(respell_transcript(transcript.model_copy(update={"segments": segments}), vocabulary), stats)


def _changed_but_refused(raw: str, output: str, seg_id: int, keep: frozenset[str] = frozenset()) -> bool:
    for i, text in parse_lines(output)[0]:
        if i == seg_id:
            return text != raw and not line_ok(raw, text, keep)
    return False

