"""Text rules shared by both sides: where a sentence ends; normalisation for scoring transcripts (lower case,
numbers as words, no punctuation) and word error rate.

Shared by ingest (re-segmentation), search (passage growth), the app (transcript paragraphs), `audiorag bench`,
`audiorag eval` and the tests, so they all cut and score the same way. Imports nothing of ours.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")


def ends_sentence(text: str) -> bool:
    """The text ends with sentence punctuation (a closing quote or bracket may follow)."""
    return bool(_SENTENCE_END.search(text.strip()))


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(n: int) -> str:
    """1455 → 'fourteen fifty five' (years read the way people say them), 42 → 'forty two'."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_to_words(n % 100))
    if 1100 <= n < 2000:
        hi, lo = divmod(n, 100)
        return number_to_words(hi) + " " + ("hundred" if lo == 0 else ("oh " + _ONES[lo] if lo < 10 else number_to_words(lo)))
    if n < 1_000_000:
        return number_to_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_to_words(n % 1000))
    if n < 1_000_000_000:
        hi, lo = divmod(n, 1_000_000)
        return number_to_words(hi) + " million" + ("" if lo == 0 else " " + number_to_words(lo))
    return " ".join(_ONES[int(d)] for d in str(n))  # digit by digit: never dropped


def normalize_text(text: str) -> str:
    """Lower case, numbers as words, no punctuation: references spell numbers out, Whisper writes digits."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # thousands separators: "6,400" is 6400, not 6 and 400
    text = re.sub(r"\d+", lambda m: " " + number_to_words(int(m.group())) + " ", text)
    text = re.sub(r"[^a-z' ]+", " ", text).replace("'", "")
    return " ".join(text.split())


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words) after normalisation: word-level Levenshtein."""
    ref, hyp = normalize_text(reference).split(), normalize_text(hypothesis).split()
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def wer(reference: str, hypothesis: str) -> float:
    errors, n = word_errors(reference, hypothesis)
    return errors / n if n else float(errors > 0)
