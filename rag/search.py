"""Hybrid retrieval, then a second pass that finds the *moment*: the best matching segments inside each chunk.

Chunks (~45–60 s) are the unit of the index because they carry enough context to match a question; a citation
that points at a chunk's start can be a minute early. So after the store's hybrid search (vector + full text,
fused by RRF) we score each segment of the top chunks against the question — embedding cosine of the segment
(alone and joined with its successor, since Whisper splits sentences) plus lexical overlap of the question's
content words — and return segment-level passages, best first. Those scores are absolute (a cosine, a fraction),
unlike RRF's rank-based ones, so the answer step can also use them to decide that nothing relevant was found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from rag.errors import AudioragError
from rag.schema import Citation, Episode, SearchHit, Segment, citation_label
from rag.textnorm import ends_sentence
from rag.voices import shown_speaker

# A small English stopword list: question words and glue that say nothing about the topic.
STOPWORDS = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
else ever few for from further get gets got had hadn't has hasn't have haven't having he he'd he'll he's her here
here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself just
let's like me might more most much must mustn't my myself no nor not now of off on once only or other ought our
ours ourselves out over own really same say said says shan't she she'd she'll she's should shouldn't so some such
tell than that that's the their theirs them themselves then there there's these they they'd they'll they're
they've this those through to too under until up upon us very was wasn't we we'd we'll we're we've were weren't
what what's when when's where where's which while who who's whom whose why why's will with won't would wouldn't
yes yet you you'd you'll you're you've your yours yourself yourselves um uh er ah oh okay ok yeah well thing
things kind sort speaker speakers recording recordings episode talk talks talking mention mentioned according
one ones way something anything
""".split())

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def stem(word: str) -> str:
    """A deliberately crude suffix stripper, enough to match printing/printed/prints and country/countries."""
    w = word
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    for suf, min_len in (("ing", 6), ("ed", 5), ("es", 5), ("s", 4)):
        if len(w) >= min_len and w.endswith(suf) and not w.endswith("ss"):
            w = w[: -len(suf)]
            break
    return w[:-1] if len(w) > 4 and w.endswith("e") else w


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def content_terms(text: str) -> list[str]:
    """Stemmed content words, in order, duplicates kept."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def overlap(query: str, text: str, heard: dict[str, str] | None = None) -> float:
    """Fraction of the query's distinct content terms that occur in `text` (0 when the query has none). `heard`
    maps a mis-hearing's term to the vocabulary term it stands for (rag/expand.py): "rolo" counts as "rollo"."""
    q = set(content_terms(query))
    if not q:
        return 0.0
    return len(q & {(heard or {}).get(t, t) for t in content_terms(text)}) / len(q)


@dataclass
class Passage:
    """A segment-level hit: the moment to cite."""

    episode_id: str
    title: str
    start: float
    end: float
    text: str
    score: float  # what passages are ranked by (cosine + weighted overlap)
    cosine: float  # embedding cosine between the query and this passage
    overlap: float  # fraction of the query's content terms found in the passage
    matched: int = 0  # how many distinct query content terms the passage holds
    segment_ids: list[int] = field(default_factory=list)
    chunk_id: str = ""
    chunk_rank: int = 0  # rank of the chunk it came from in the hybrid search (0 = best)
    speaker: str | None = None  # who says it (the voice speaking longest in it), when known

    def citation(self) -> Citation:
        return Citation(episode_id=self.episode_id, title=self.title, start=self.start, end=self.end, text=self.text,
                        speaker=self.speaker)

    @property
    def label(self) -> str:
        return citation_label(self.title, self.start, self.speaker)

    def to_dict(self) -> dict:
        return {"episode_id": self.episode_id, "title": self.title, "start": round(self.start, 3),
                "end": round(self.end, 3), "text": self.text, "score": round(self.score, 4),
                "cosine": round(self.cosine, 4), "overlap": round(self.overlap, 4), "matched": self.matched,
                "segment_ids": self.segment_ids, "speaker": self.speaker}


@dataclass
class SearchResult:
    query: str
    hits: list[SearchHit]  # chunk-level, as fused by the store
    passages: list[Passage]  # segment-level, best first, one per moment

    @property
    def best(self) -> Passage | None:
        return self.passages[0] if self.passages else None


# Weight of lexical overlap against the cosine when ranking passages; chosen on the eval set (docs/answers.md).
OVERLAP_WEIGHT = 0.35
# A pair (segment + its successor) must beat the single segment by this margin to be preferred: shorter is
# the more precise citation.
PAIR_MARGIN = 0.03


def passage_score(cosine: float, lexical: float) -> float:
    return cosine + OVERLAP_WEIGHT * lexical


def segments_in(segments: list[Segment], start: float, end: float) -> list[Segment]:
    """Segments that lie (mostly) inside [start, end]."""
    out = []
    for s in segments:
        mid = (s.start + s.end) / 2
        if start - 0.05 <= mid <= end + 0.05 or (s.start >= start - 0.05 and s.start < end):
            out.append(s)
    return out


def candidate_units(segments: list[Segment]) -> list[list[Segment]]:
    """Single segments, and each segment joined with its successor (a sentence Whisper split in two)."""
    units = [[s] for s in segments if s.text.strip()]
    units += [[a, b] for a, b in zip(segments, segments[1:])
              if a.text.strip() and b.text.strip() and a.speaker == b.speaker]  # a sentence has one speaker
    return units


def rank_units(query: str, qvec, units: list[list[Segment]], unit_vecs,
               heard: dict[str, str] | None = None) -> list[tuple[float, float, float, list[Segment]]]:
    """(score, cosine, overlap, unit) for each unit, best first."""
    import numpy as np

    cos = (np.asarray(unit_vecs) @ np.asarray(qvec)).tolist() if len(units) else []
    out = []
    for unit, c in zip(units, cos):
        text = " ".join(s.text.strip() for s in unit)
        lex = overlap(query, text, heard)
        score = passage_score(c, lex) - (PAIR_MARGIN if len(unit) > 1 else 0.0)
        out.append((score, c, lex, unit))
    out.sort(key=lambda t: -t[0])
    return out


def cited_span(unit: list[Segment], episode_segments: list[Segment], single_scores: dict[int, float],
               max_each_side: int = 3, max_words: int = 60) -> list[Segment]:
    """The segments to cite for a winning unit: the whole sentence it belongs to.

    A pair won by its second half is cited from that half (the pair only lent it context for ranking). Then the
    span grows to sentence boundaries — back while the previous segment does not end a sentence, forward while
    the span does not — so a Whisper segment holding half a sentence is cited from where the sentence starts and
    quoted with its answer (at most `max_each_side` segments each way and `max_words` words)."""
    if len(unit) == 2 and single_scores.get(unit[1].id, 0.0) > single_scores.get(unit[0].id, 0.0):
        unit = [unit[1]]
    pos = {s.id: i for i, s in enumerate(episode_segments)}
    if unit[0].id not in pos or unit[-1].id not in pos:
        return unit
    lo, hi = pos[unit[0].id], pos[unit[-1].id]

    def words_in(a: int, b: int) -> int:
        return sum(len(episode_segments[i].text.split()) for i in range(a, b + 1))

    for _ in range(max_each_side):
        prev = episode_segments[lo - 1] if lo > 0 else None
        if (prev is not None and not ends_sentence(prev.text) and prev.speaker == episode_segments[lo].speaker
                and words_in(lo - 1, hi) <= max_words):
            lo -= 1
        else:
            break
    for _ in range(max_each_side):
        nxt = episode_segments[hi + 1] if hi + 1 < len(episode_segments) else None
        if (nxt is not None and not ends_sentence(episode_segments[hi].text) and nxt.speaker == episode_segments[hi].speaker
                and words_in(lo, hi + 1) <= max_words):
            hi += 1
        else:
            break
    return [s for s in episode_segments[lo:hi + 1] if s.text.strip()]


def _filter_episode_ids(store, episode: str | None, tags: list[str] | None, since: datetime | None,
                        until: datetime | None) -> list[str] | None:
    """None means no filter; [] means the filters match nothing."""
    if not (episode or tags or since or until):
        return None
    if episode:
        candidates: list[Episode] = [store.require_episode(episode, SearchError)]
    else:
        candidates = store.list_episodes()
    wanted = {t.strip().lower() for t in tags or [] if t.strip()}

    def keep(e: Episode) -> bool:
        created = e.created if e.created.tzinfo else e.created.replace(tzinfo=timezone.utc)
        if since and created < since:
            return False
        if until and created > until:
            return False
        return not wanted or bool(wanted & {t.lower() for t in e.tags})

    return [e.id for e in candidates if keep(e)]


def dominant_speaker(unit: list[Segment]) -> str | None:
    """The speaker who talks longest in these segments (None when none is known)."""
    talk: dict[str, float] = {}
    for s in unit:
        if s.speaker:
            talk[s.speaker] = talk.get(s.speaker, 0.0) + max(s.end - s.start, 0.01)
    return max(talk, key=talk.get) if talk else None


def speaks(unit: list[Segment], speaker: str) -> bool:
    return all((s.speaker or "").casefold() == speaker.casefold() for s in unit)


def speaker_episode_ids(store, speaker: str, ids: list[str] | None) -> list[str]:
    """The episodes (within `ids`) where `speaker` speaks (names compare without case)."""
    from rag.store import SEGMENTS, _sql

    where = f"lower(speaker) = {_sql(speaker.strip().casefold())}"
    rows = store._table(SEGMENTS).search().where(where).select(["episode_id"]).limit(None).to_list()
    found = {r["episode_id"] for r in rows}
    return [i for i in (ids if ids is not None else sorted(found)) if i in found]


def fts_query(query: str, store) -> tuple[str, dict[str, str]]:
    """What the full-text side searches: plain words (quotes, colons or question marks mean syntax to the FTS
    parser), and for a vocabulary word the library's mis-hearings of it (rag/expand.py); with {mis-hearing's
    term: the vocabulary term} for ranking."""
    from rag.expand import misheard

    expanded = misheard(words(query), store, STOPWORDS)
    heard = {stem(w): stem(term) for term, ws in expanded.items() for w in ws}
    return " ".join(words(query) + [w for ws in expanded.values() for w in ws]), heard


class SearchError(AudioragError, RuntimeError):
    """A search the user asked for that cannot run (unknown episode, bad filter); one line."""


def search(query: str, *, k: int = 5, episode: str | None = None, tags: list[str] | None = None,
           since: datetime | None = None, until: datetime | None = None, settings=None, store=None,
           embedder=None, chunks: int | None = None, speaker: str | None = None) -> SearchResult:
    """Hybrid chunk search, refined to segment-level passages (at most one per segment, best first). With
    `speaker`, only what that speaker says: episodes where they speak, and only their segments."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    if store is None:
        from rag.store import Store

        store = Store(settings)
    if embedder is None:
        from rag.embed import get_embedder

        embedder = get_embedder(settings)
    query = query.strip()
    if not query:
        return SearchResult(query, [], [])
    ids = _filter_episode_ids(store, episode, tags, since, until)
    speaker = (speaker or "").strip() or None
    if speaker:
        ids = speaker_episode_ids(store, speaker, ids)
    if ids is not None and not ids:
        return SearchResult(query, [], [])
    qvec = embedder.embed([query])[0]
    # A speaker's segments are a part of each chunk: look at more chunks to find as many of theirs.
    n_chunks = chunks or max(k, 6) * (3 if speaker else 1)
    fts, heard = fts_query(query, store)
    hits = store.hybrid_search(fts, qvec, n_chunks, episode_ids=ids)
    if not hits:
        return SearchResult(query, [], [])

    seg_cache: dict[str, list[Segment]] = {}
    units: list[tuple[int, SearchHit, list[Segment]]] = []
    for rank, hit in enumerate(hits):
        if hit.episode_id not in seg_cache:
            seg_cache[hit.episode_id] = store.segments(hit.episode_id)
        wanted = set(hit.segment_ids)
        inside = ([s for s in seg_cache[hit.episode_id] if s.id in wanted] if wanted
                  else segments_in(seg_cache[hit.episode_id], hit.start, hit.end))
        units += [(rank, hit, u) for u in candidate_units(inside) if not speaker or speaks(u, speaker)]
    if not units:
        return SearchResult(query, hits, [])
    # Embed each distinct unit text once (overlapping chunks share segments).
    texts = list(dict.fromkeys(" ".join(s.text.strip() for s in u) for _, _, u in units))
    vecs = embedder.embed(texts)
    vec_of = dict(zip(texts, vecs))
    ranked = rank_units(query, qvec, [u for _, _, u in units],
                        [vec_of[" ".join(s.text.strip() for s in u)] for _, _, u in units], heard)
    origin = {id(u): (rank, hit) for rank, hit, u in units}

    single = {(origin[id(u)][1].episode_id, u[0].id): sc for sc, _, _, u in ranked if len(u) == 1}
    n_terms = len(set(content_terms(query)))
    passages: list[Passage] = []
    used: set[tuple[str, int]] = set()
    voices: dict[str, set[str]] = {}

    def voices_of(episode_id: str) -> set[str]:
        if episode_id not in voices:
            voices[episode_id] = {s.speaker for s in seg_cache[episode_id] if s.speaker}
        return voices[episode_id]

    for score, cos, lex, unit in ranked:
        rank, hit = origin[id(unit)]
        unit = cited_span(unit, seg_cache[hit.episode_id],
                          {s.id: single.get((hit.episode_id, s.id), 0.0) for s in unit})
        keys = {(hit.episode_id, s.id) for s in unit}
        if keys & used:
            continue
        used |= keys
        passages.append(Passage(
            episode_id=hit.episode_id, title=hit.title, start=unit[0].start, end=unit[-1].end,
            text=" ".join(s.text.strip() for s in unit), score=float(score), cosine=float(cos), overlap=lex,
            matched=round(lex * n_terms), segment_ids=[s.id for s in unit], chunk_id=hit.chunk_id, chunk_rank=rank,
            speaker=shown_speaker(dominant_speaker(unit), voices_of(hit.episode_id)),
        ))
        if len(passages) >= k:
            break
    return SearchResult(query, hits, passages)
