"""Can the retrieved passages answer the question? Decided from what they say, not only how close they are.

Three checks, in order, each calibrated on the dev split of tests/data/spoken_qa/eval.json (docs/answers.md):

1. Retrieval strength (`retrieval_decision`): the best passage's embedding cosine, helped by the question words it
   holds. This alone catches questions about things never recorded.
2. The question's type against what the passage holds (rag.extract): a "when" needs a time, a "who" a name, a
   "how many" a number. Among the passages worth quoting, the first that holds a candidate answers.
3. The question's own words: an on-topic question the episode does not answer usually asks about something the
   passage never mentions ("How much did it *cost* to build the tower?" over "Construction took two years…").
   A question word found neither in the passage, nor in the sentences around it, nor in the episode's title,
   is *missing*; more than MAX_MISSING of them (one is allowed: Whisper mishears words) and the passage does not answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher

from rag.extract import SpanPick, expected_type, pick_span
from rag.search import Passage, SearchResult, content_terms

# (1) Calibrated for all-MiniLM-L6-v2 on real ASR output; another embedding model needs its own numbers.
MIN_COSINE_ALONE = 0.55
MIN_COSINE_WITH_WORDS = 0.40
MIN_MATCHED_WORDS = 2
# … or a fairly related one holding one of the question's words (dev split: answerable at 0.48–0.52 with one word,
# no unanswerable above 0.45).
MIN_COSINE_ONE_WORD = 0.47
# (3) How many of the question's content words may be absent from the passage and its context (ASR mishears
# some), and how many sentences each side count as context (a name said in the sentence before).
MAX_MISSING = 1
CONTEXT_SEGMENTS = 2
# A question word counts as said when the passage holds a near-spelling of it: Whisper writes names as it hears
# them ("Sweynheim" → "Swainheim", "Pannartz" → "Panerts"). Only for words of HEARD_AS_MIN_LEN letters or more
# (short words have too many look-alikes); the ratio is difflib's. Not tuned on the dev split: there it changes no
# decision (false refusals 0.268, on-topic refusals 0.706, with and without; measured 2026-12-02). It was written
# for a misheard name in the test library of tests/test_eval.py.
HEARD_AS_RATIO = 0.75
HEARD_AS_MIN_LEN = 5
# Words a question uses to ask, not to say what it is about.
ASKING_WORDS = frozenset(content_terms("""name named call called happen happened take took make made use used
give gave know known get mean means cause type kind happen first year long tall high many much wide old far
deep big heavy often large fast""") + ["year"])


@dataclass
class Decision:
    answerable: bool
    reason: str
    passage: Passage | None = None  # the passage that answers (when answerable)
    span: SpanPick | None = None
    missing: list[str] = field(default_factory=list)


def retrieval_decision(result: SearchResult) -> Decision:
    """Is the best retrieved passage relevant enough to answer from? Pure function of the absolute scores."""
    best = result.best
    if best is None:
        return Decision(False, "nothing retrieved")
    if best.cosine >= MIN_COSINE_ALONE:
        return Decision(True, f"cosine {best.cosine:.2f}", best)
    if best.cosine >= MIN_COSINE_WITH_WORDS and best.matched >= MIN_MATCHED_WORDS or \
            best.cosine >= MIN_COSINE_ONE_WORD and best.matched >= 1:
        return Decision(True, f"cosine {best.cosine:.2f} with {best.matched} question words", best)
    return Decision(False, f"best passage too weak (cosine {best.cosine:.2f}, {best.matched} question words)")


def context_text(passage: Passage, store, n: int = CONTEXT_SEGMENTS) -> str:
    """The passage with `n` segments either side and the episode's title: where a question's words may be said
    without being in the cited sentence itself ("she" for Marie Curie)."""
    if store is None or not passage.segment_ids:
        return f"{passage.title} {passage.text}"
    segs = store.segments(passage.episode_id)
    pos = {s.id: i for i, s in enumerate(segs)}
    idx = [pos[i] for i in passage.segment_ids if i in pos]
    if not idx:
        return f"{passage.title} {passage.text}"
    around = segs[max(0, min(idx) - n):max(idx) + n + 1]
    return " ".join([passage.title] + [s.text for s in around])


def heard_as(term: str, words: set[str]) -> bool:
    """Is `term`, or a near-spelling of it as Whisper may write it, among `words`?"""
    if term in words:
        return True
    if len(term) < HEARD_AS_MIN_LEN:
        return False
    return any(abs(len(w) - len(term)) <= 3 and SequenceMatcher(None, term, w).ratio() >= HEARD_AS_RATIO
               for w in words if len(w) >= HEARD_AS_MIN_LEN - 1)


def missing_terms(question: str, text: str) -> list[str]:
    have = set(content_terms(text))
    return [t for t in dict.fromkeys(content_terms(question)) if t not in ASKING_WORDS and not heard_as(t, have)]


def decide(question: str, result: SearchResult, candidates: list[Passage], store=None) -> Decision:
    """All three checks; `candidates` are the passages worth quoting (best first)."""
    first = retrieval_decision(result)
    if not first.answerable:
        return first
    kind = expected_type(question)
    chosen, span = None, None
    for p in candidates:
        span = pick_span(question, p.text)
        if span is not None:
            chosen = p
            break
    if chosen is None:
        what = {"time": "a time", "number": "a number", "person": "a name", "place": "a place"}.get(kind, "an answer")
        return Decision(False, f"{first.reason}; no passage holds {what}")
    missing = missing_terms(question, context_text(chosen, store))
    if len(missing) > MAX_MISSING:
        return Decision(False, f"{first.reason}; the passage never mentions {', '.join(missing)}", chosen, span,
                        missing)
    return Decision(True, first.reason + (f"; missing {', '.join(missing)}" if missing else ""), chosen, span, missing)


# How many of the nearest passages a search without a strong match still shows (marked weak).
MAX_WEAK = 3


def search_floor(result: SearchResult) -> tuple[bool, list[dict]]:
    """`audiorag search` and the Search tab: (strong, passages as dicts). Below the retrieval floor (check 1) there
    is no strong match: at most MAX_WEAK nearest passages come back, each marked `"weak": true`."""
    strong = retrieval_decision(result).answerable
    if strong:
        return True, [p.to_dict() for p in result.passages]
    return False, [{**p.to_dict(), "weak": True} for p in result.passages[:MAX_WEAK]]
