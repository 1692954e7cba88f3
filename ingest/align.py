"""Times for a text that came without them: align its words to the words a local Whisper heard, with their times.

A server such as vLLM serving Voxtral returns a better text than a small local model but no timestamps. The local
model's words (with times) and the server's words are aligned as two token sequences (Levenshtein opcodes from
rapidfuzz): a server word matched to a local word, exactly or closely ("Rollo" / "Rolo"), takes that word's time.
A time is never invented: a server word that matches nothing heard locally is joined to its aligned neighbour
(the previous one, or the next at the start), so it stays in the text and is cited at that neighbour's moment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.schema import Word

CLOSE = 60.0  # rapidfuzz ratio (0-100) at which two differing spellings count as the same spoken word


@dataclass
class Alignment:
    words: list[Word]  # the server's words with local times (unaligned ones joined to a neighbour)
    matched: int  # server words that took a local time
    total: int  # server words

    @property
    def unaligned(self) -> int:
        return self.total - self.matched


def _key(token: str) -> str:
    return re.sub(r"[^\w]", "", token.casefold())


def _pairs(text_tokens: list[str], heard: list[Word]) -> dict[int, int]:
    """{index of a server token: index of the local word it was heard as}."""
    from rapidfuzz import fuzz
    from rapidfuzz.distance import Levenshtein

    a = [_key(t) for t in text_tokens]
    b = [_key(w.word) for w in heard]
    pairs: dict[int, int] = {}
    gap: list[int] | None = None  # [i1, i2, j1, j2] of the stretch since the last exact match
    for op, i1, i2, j1, j2 in [*Levenshtein.opcodes(a, b).as_list(), ("equal", len(a), len(a), len(b), len(b))]:
        if op != "equal":
            gap = [i1, i2, j1, j2] if gap is None else [gap[0], i2, gap[2], j2]
            continue
        if gap is not None and gap[1] > gap[0] and gap[3] > gap[2]:  # heard differently: pair close spellings
            pairs.update(_close_pairs(a, b, *gap, fuzz.ratio))
        gap = None
        pairs.update({i1 + k: j1 + k for k in range(i2 - i1)})
    return pairs


def _close_pairs(a: list[str], b: list[str], i1: int, i2: int, j1: int, j2: int, ratio) -> dict[int, int]:
    """The in-order pairing of a[i1:i2] with b[j1:j2] that maximizes the summed similarity of pairs at least
    CLOSE alike (a weighted longest common subsequence; the stretches between exact matches are short)."""
    n, m = i2 - i1, j2 - j1
    if n * m > 250_000:  # a long stretch with nothing in common: leave it unaligned
        return {}
    score = [[0.0] * (m + 1) for _ in range(n + 1)]
    for x in range(n - 1, -1, -1):
        for y in range(m - 1, -1, -1):
            sim = ratio(a[i1 + x], b[j1 + y]) if a[i1 + x] else 0.0
            best = max(score[x + 1][y], score[x][y + 1])
            score[x][y] = max(best, score[x + 1][y + 1] + sim) if sim >= CLOSE else best
    pairs, x, y = {}, 0, 0
    while x < n and y < m:
        sim = ratio(a[i1 + x], b[j1 + y]) if a[i1 + x] else 0.0
        if sim >= CLOSE and score[x][y] == score[x + 1][y + 1] + sim:
            pairs[i1 + x] = j1 + y
            x, y = x + 1, y + 1
        elif score[x + 1][y] >= score[x][y + 1]:
            x += 1
        else:
            y += 1
    return pairs


def align_text(text: str, heard: list[Word]) -> Alignment:
    """The words of `text`, timed by the local words `heard` (in order, with times)."""
    tokens = text.split()
    pairs = _pairs(tokens, heard) if heard else {}
    out: list[Word] = []
    pending: list[str] = []  # unaligned tokens before the first aligned one
    for i, token in enumerate(tokens):
        j = pairs.get(i)
        if j is None:
            if out:
                out[-1] = out[-1].model_copy(update={"word": f"{out[-1].word} {token}"})
            else:
                pending.append(token)
            continue
        local = heard[j]
        start = max(local.start, out[-1].end if out else local.start)
        out.append(Word(start=start, end=max(local.end, start), word=" ".join([*pending, token]),
                        probability=local.probability))
        pending = []
    return Alignment(words=out, matched=len(pairs), total=len(tokens))
