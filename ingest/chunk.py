"""Segments → chunks: the units that are embedded, searched and cited.

A chunk is a window of whole segments (never a cut inside one), so its start and end are real segment times and a
citation can play from exactly where the chunk begins. Windows grow to about `target_seconds` and never past
`max_seconds` or `max_tokens`; the next window starts a few whole segments back (about `overlap_seconds`), so an
answer that straddles a boundary is still inside one chunk. A segment that alone breaks a limit becomes a chunk of
its own.

Token counts are estimated, not tokenized: words × 1.3, plus one token per CJK character (which has no spaces and
costs a token per character in WordPiece). `max_tokens=220` keeps chunks inside the 256-token window of the MiniLM
embedders with room for special tokens and estimation error.

Transcripts without times (`has_times=False`, plain-text imports) are chunked by words instead: about
`max_tokens × target_seconds / max_seconds` tokens a chunk, `overlap_seconds / target_seconds` of that as overlap;
their chunks have start = end = 0.
"""

from __future__ import annotations

import math
import re

from rag.schema import Chunk, Segment, Transcript

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def estimate_tokens(text: str) -> int:
    cjk = len(_CJK.findall(text))
    words = len(_CJK.sub(" ", text).split())
    return math.ceil(words * 1.3 + cjk)


def chunk_id(episode_id: str, index: int) -> str:
    return f"{episode_id}:{index:05d}"


def chunk_transcript(
    episode_id: str,
    transcript: Transcript,
    target_seconds: float = 50,
    max_seconds: float = 60,
    overlap_seconds: float = 10,
    max_tokens: int = 220,
) -> list[Chunk]:
    """Chunks covering every segment that has text, in time order, ids `<episode_id>:<index:05d>`."""
    if not (0 < target_seconds <= max_seconds and 0 <= overlap_seconds < target_seconds and max_tokens > 0):
        raise ValueError(
            "chunking needs 0 < target_seconds <= max_seconds, 0 <= overlap_seconds < target_seconds, max_tokens > 0"
        )
    segments = sorted((s for s in transcript.segments if s.text.strip()), key=lambda s: (s.start, s.id))
    if not segments:
        return []
    if not transcript.has_times:
        windows = _word_windows(segments, target_seconds, max_seconds, overlap_seconds, max_tokens)
        return [
            Chunk(id=chunk_id(episode_id, i), episode_id=episode_id, start=0.0, end=0.0, text=text, segment_ids=ids)
            for i, (text, ids) in enumerate(windows)
        ]
    chunks = []
    for i, window in enumerate(_time_windows(segments, target_seconds, max_seconds, overlap_seconds, max_tokens)):
        chunks.append(
            Chunk(
                id=chunk_id(episode_id, i),
                episode_id=episode_id,
                start=window[0].start,
                end=max(s.end for s in window),
                text=" ".join(s.text.strip() for s in window),
                segment_ids=[s.id for s in window],
            )
        )
    return chunks


def _time_windows(
    segs: list[Segment], target: float, max_s: float, overlap: float, max_tokens: int
) -> list[list[Segment]]:
    tokens = [estimate_tokens(s.text) for s in segs]
    n = len(segs)
    windows = []
    i, must = 0, 0  # the window is segs[i:j]; it always takes segs[i..must] (the first new segment), whatever its size
    while True:
        j, used, end = i + 1, tokens[i], segs[i].end
        while j < n:
            if j > must:
                if end - segs[i].start >= target:
                    break
                if max(end, segs[j].end) - segs[i].start > max_s or used + tokens[j] > max_tokens:
                    break
            used += tokens[j]
            end = max(end, segs[j].end)
            j += 1
        windows.append(segs[i:j])
        if j >= n:
            return windows
        # Step back over whole segments while that brings the overlap closer to `overlap`, as long as the next
        # window still has room for its first new segment, segs[j].
        k, current, room = j, 0.0, tokens[j]
        while k - 1 > i:
            candidate = end - segs[k - 1].start
            if abs(candidate - overlap) >= abs(current - overlap):
                break
            if max(end, segs[j].end) - segs[k - 1].start > max_s or room + tokens[k - 1] > max_tokens:
                break
            k, current = k - 1, candidate
            room += tokens[k]
        i, must = k, j


def _word_windows(
    segs: list[Segment], target: float, max_s: float, overlap: float, max_tokens: int
) -> list[tuple[str, list[int]]]:
    words = [(w, s.id) for s in segs for w in s.text.split()]
    cost = [estimate_tokens(w) for w, _ in words]
    order = {s.id: k for k, s in enumerate(segs)}
    target_tokens = max(1, int(max_tokens * target / max_s))
    overlap_tokens = int(target_tokens * overlap / target)
    windows = []
    i, must, n = 0, 0, len(words)
    while True:
        j, used = i + 1, cost[i]
        while j < n and (j <= must or used + cost[j] <= target_tokens):
            used += cost[j]
            j += 1
        ids = sorted({sid for _, sid in words[i:j]}, key=order.__getitem__)
        windows.append((" ".join(w for w, _ in words[i:j]), ids))
        if j >= n:
            return windows
        k, back = j, 0
        while k - 1 > i and back + cost[k - 1] <= overlap_tokens and back + cost[k - 1] + cost[j] <= target_tokens:
            k -= 1
            back += cost[k]
        i, must = k, j
