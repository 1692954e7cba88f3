"""Pick the words that answer a question out of a transcript passage (an extractive span), by rule.

No extractive-QA model ships in a PyPI package (docs/answers.md), so the span comes from what the question asks
for and where the passage's words meet the question's:

- the question's *type*: who → a name, when → a time or date, how many/much/long/tall… → a number with its unit,
  where → a place (a name, or a phrase after in/at/near…), anything else → free;
- *candidates* of that type in the passage (Whisper capitalises names and writes digits, so names and numbers can
  be found in its text), minus what the question already says;
- the candidate *nearest* the passage words that match the question wins; a free question gets the run of new
  words next to the matched ones.

`expected_type` and `candidates` also feed the answerability check (rag.answerable): a "when" over a passage
that holds no time cannot be answered from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.search import STOPWORDS, content_terms, stem

NUMBER_WORDS = frozenset("""
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen
eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion dozen
half quarter twice once thrice point
""".split())
ORDINALS = frozenset("""first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth
fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth""".split())
MONTHS = frozenset("january february march april may june july august september october november december".split())
WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
TIME_WORDS = frozenset("""century centuries decade decades year years bc ad ago age ages dawn dusk morning evening
night noon midnight midsummer midwinter spring summer autumn winter christmas easter today yesterday week weeks
month months day days hour hours minute minutes era""".split())
# Words that may follow a number as its unit or continue a number phrase.
NUMBER_TAIL = frozenset("""and a of point per percent""".split())

# What a measure is counted in: a "how tall" answered by "five times" or a "how much did it cost" by "300 workers"
# answers something else. (Units as Whisper writes them; a number with no unit word passes, it may be bare.)
_LENGTH = """meter meters metre metres m km kilometer kilometers kilometre kilometres mile miles foot feet ft inch
inches yard yards centimeter centimeters cm millimeter millimeters mm""".split()
_DURATION = """second seconds minute minutes hour hours day days week weeks month months year years decade decades
century centuries""".split()
_MASS = "ton tons tonne tonnes kilogram kilograms kg kilo kilos gram grams pound pounds ounce ounces".split()
_VOLUME = "liter liters litre litres gallon gallons cup cups barrel barrels jar jars".split()
_MONEY = """dollar dollars pound pounds euro euros franc francs mark marks cent cents pence yen lira lire guinea
guineas shilling shillings""".split()
_SCALE = frozenset("hundred thousand million billion trillion".split())
MEASURE_UNITS = {
    "tall": _LENGTH, "high": _LENGTH, "wide": _LENGTH, "deep": _LENGTH, "far": _LENGTH,
    "long": _LENGTH + _DURATION, "old": _DURATION, "heavy": _MASS,
    "big": _LENGTH + _MASS + _VOLUME + "square acres acre hectares hectare across".split(),
    "large": _LENGTH + _MASS + _VOLUME + "square acres acre hectares hectare across".split(),
}
_COST = frozenset("cost costs pay paid price priced spend spent worth earn earned charge charged sell sold".split())


def measure_units(question: str) -> frozenset[str] | None:
    """The unit words a "how tall / long / much did it cost …" question's answer is counted in (None: any)."""
    q = " ".join(question.lower().replace("?", " ").split())
    m = re.search(r"\bhow (tall|high|wide|deep|far|long|old|heavy|big|large|much)\b", q)
    if not m:
        return None
    if m.group(1) == "much":
        return frozenset(_MONEY) if set(q.split()) & _COST else None
    return frozenset(MEASURE_UNITS[m.group(1)])


def _unit_fits(toks: list, a: int, b: int, units: frozenset[str], text: str) -> bool:
    """The run [a, b) is counted in one of `units` (its unit word, or a currency sign before the number)."""
    if units & frozenset(_MONEY) and re.search(r"[$£€¥]\s*$", text[:toks[a].start]):
        return True
    words = [t.low for t in toks[a:b]]
    unit = next((w for w in reversed(words) if not _is_number(Tok(w, 0, 0)) and w not in _SCALE), None)
    return unit is None or unit in units or unit.rstrip("s") in units  # a bare number may be the answer


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.\-]*")


@dataclass
class Tok:
    text: str
    start: int
    end: int

    @property
    def low(self) -> str:
        return self.text.lower().strip(".").replace("’", "'")


def tokens(text: str) -> list[Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        t = m.group().rstrip(".'’-")
        if t:
            out.append(Tok(t, m.start(), m.start() + len(t)))
    return out


def expected_type(question: str) -> str:
    """person | time | number | place | other."""
    q = " " + " ".join(question.lower().replace("?", " ").split()) + " "
    if re.search(r" how (many|much|tall|high|wide|long|old|far|deep|big|heavy|often|large|fast) ", q):
        return "number"
    if re.search(r" (when|what year|which year|what century|which century|since when|until when|what date) ", q):
        return "time"
    if re.search(r" (who|whom|whose) ", q) or re.search(r" (which|what) (king|queen|explorer|scientist|engineer|"
                                                       r"person|man|woman|leader|astronomer|doctor|artist) ", q):
        return "person"
    if re.search(r" (where|which city|what city|which country|what country|which state|what state) ", q):
        return "place"
    return "other"


def _is_number(tok: Tok) -> bool:
    low = tok.low
    return bool(re.fullmatch(r"\d[\d,.]*(st|nd|rd|th|s)?", low)) or low in NUMBER_WORDS or \
        all(p in NUMBER_WORDS for p in low.split("-") if p) and "-" in low


def _is_time(tok: Tok) -> bool:
    low = tok.low
    return bool(re.fullmatch(r"1\d{3}s?|20\d{2}s?|\d{3}", low)) or low in MONTHS or low in TIME_WORDS or low in ORDINALS


def _is_name(tok: Tok, i: int, toks: list[Tok], text: str) -> bool:
    if not tok.text[:1].isupper() or tok.low in STOPWORDS or tok.low in MONTHS or tok.low in WEEKDAYS:
        return False  # "on the 14th of December": a month is a time, not who
    sentence_start = i == 0 or re.search(r"[.!?]\s*$", text[:tok.start])
    if not sentence_start:
        return True
    # a capitalised first word is a name only when the next word is one too ("Marie Curie was …")
    return i + 1 < len(toks) and toks[i + 1].text[:1].isupper() and toks[i + 1].low not in STOPWORDS


def candidates(text: str, kind: str, question: str = "") -> list[tuple[int, int]]:
    """Token index ranges [a, b) in `text` that could answer a question of `kind` (empty for "other")."""
    qterms = set(content_terms(question))
    toks = tokens(text)
    if kind == "other":
        return []
    if kind == "number":
        hit = [_is_number(t) for t in toks]
    elif kind == "time":
        hit = [_is_time(t) or _is_number(t) for t in toks]
    else:  # person, place
        hit = [_is_name(t, i, toks, text) for i, t in enumerate(toks)]
        # "Charles the Simple", "Ptolemy the Fifth", "Francisco de Orellana": join names across a small word
        for i in range(1, len(toks) - 1):
            if not hit[i] and hit[i - 1] and hit[i + 1] and toks[i].low in {"the", "de", "of", "du", "von", "van", "la"}:
                hit[i] = True
    if kind == "place" and not any(hit):
        # no name: the words after a place preposition ("on flat rooftops"), not a time ("in 1934")
        for i, t in enumerate(toks):
            if t.low not in ("in", "on", "at", "near"):
                continue
            j = i + 1 + (i + 1 < len(toks) and toks[i + 1].low in {"the", "a", "an", "their", "its", "his", "her"})
            while j < len(toks) and toks[j].low not in STOPWORDS and stem(toks[j].low) not in qterms and not (
                    _is_time(toks[j]) or _is_number(toks[j])):
                hit[j] = True
                j += 1
    runs, i = [], 0
    while i < len(toks):
        if not hit[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(toks) and (hit[j + 1] or (kind in ("number", "time") and toks[j + 1].low in NUMBER_TAIL
                                                    and j + 2 < len(toks) and hit[j + 2])):
            j += 1
        if kind == "number" and j + 1 < len(toks) and toks[j + 1].low not in STOPWORDS:
            j += 1  # the unit: "forty meters", "twelve hours"
        if kind == "time" and not any(_is_time(t) for t in toks[i:j + 1]) and not any(
                re.fullmatch(r"\d{3,4}", t.low) for t in toks[i:j + 1]):
            i = j + 1
            continue  # a bare count ("four men") is not a time
        if kind == "number" and j == i and re.fullmatch(r"1\d{3}|20\d{2}", toks[i].low):
            i = j + 1
            continue  # a bare year is a time, not an amount ("how tall" over "built in 1874")
        runs.append((i, j + 1))
        i = j + 1
    units = measure_units(question) if kind == "number" else None
    if units is not None:
        runs = [(a, b) for a, b in runs if _unit_fits(toks, a, b, units, text)]
    return runs


@dataclass
class SpanPick:
    start: int  # character offsets in the passage
    end: int
    text: str
    typed: bool  # a candidate of the question's type (else the free rule)


def _matched(toks: list[Tok], question: str) -> list[int]:
    q = set(content_terms(question))
    return [i for i, t in enumerate(toks) if t.low not in STOPWORDS and stem(t.low) in q]


def pick_span(question: str, text: str) -> SpanPick | None:
    """The words of `text` that answer `question`, or None when the passage holds no candidate of the type the
    question asks for."""
    toks = tokens(text)
    if not toks:
        return None
    kind = expected_type(question)
    qterms = set(content_terms(question))
    matched = _matched(toks, question)
    anchor = (sum(matched) / len(matched)) if matched else 0.0
    if kind != "other":
        runs = [(a, b) for a, b in candidates(text, kind, question)
                if not all(toks[k].low in STOPWORDS or stem(toks[k].low) in qterms for k in range(a, b))]
        if not runs:
            return None
        def after_prep(r: tuple[int, int]) -> bool:  # a place is said after in/at/near ("near Rome")
            return kind == "place" and r[0] > 0 and toks[r[0] - 1].low in ("in", "at", "near", "on", "of")

        a, b = min(runs, key=lambda r: (not after_prep(r), min(abs(k - anchor) for k in range(r[0], r[1])), r[0]))
        return SpanPick(toks[a].start, toks[b - 1].end, text[toks[a].start:toks[b - 1].end], True)
    # free question: the longest run of words the question does not hold, next to the words it does
    new = [i for i, t in enumerate(toks) if t.low not in STOPWORDS and stem(t.low) not in qterms]
    if not new:
        return None
    runs, cur = [], [new[0]]
    for i in new[1:]:
        gap = toks[cur[-1] + 1:i]
        if i - cur[-1] <= 3 and all(stem(t.low) not in qterms for t in gap):
            cur.append(i)
        else:
            runs.append(cur)
            cur = [i]
    runs.append(cur)
    best = min(runs, key=lambda r: (min(abs(k - anchor) for k in r) - 0.5 * len(r), r[0]))
    a, b = best[0], best[-1]
    return SpanPick(toks[a].start, toks[b].end, text[toks[a].start:toks[b].end], False)
