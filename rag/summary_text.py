"""The text checks and extractions behind episode metadata (rag/summarize.py): cleaning a model's line, judging
whether it is grounded in the transcript, and the fallbacks taken from the transcript itself (key terms, central
sentences, a key-phrase title)."""

from __future__ import annotations

import re
from collections import Counter

from rag.search import STOPWORDS, content_terms, stem, words


def key_terms(text: str, n: int = 5) -> list[str]:
    """The most frequent content words (shown in their most common surface form), ties by first occurrence."""
    forms: dict[str, Counter] = {}
    order: dict[str, int] = {}
    for i, w in enumerate(words(text)):
        if w in STOPWORDS or len(w) < 3 or w.isdigit():
            continue
        s = stem(w)
        forms.setdefault(s, Counter())[w] += 1
        order.setdefault(s, i)
    ranked = sorted(forms, key=lambda s: (-sum(forms[s].values()), order[s]))
    return [forms[s].most_common(1)[0][0] for s in ranked[:n]]


def central_sentences(text: str, n: int = 2) -> str:
    """The `n` sentences sharing the most content words with the whole text, in their original order."""
    sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 4] or [text.strip()]
    freq = Counter(content_terms(text))
    scored = sorted(range(len(sents)), key=lambda i: -sum(freq[t] for t in set(content_terms(sents[i]))) / (1 + len(sents[i].split()) ** 0.5))
    keep = sorted(scored[:n])
    return " ".join(sents[i] for i in keep)


def phrase_title(text: str, n: int = 3) -> str:
    terms = key_terms(text, n)
    if not terms:
        return "Untitled recording"
    t = [w.capitalize() for w in terms]
    return t[0] if len(t) == 1 else ", ".join(t[:-1]) + " and " + t[-1]


_LABEL = re.compile(r"^\s*(title|heading|summary|description|tags?|answer|chapter)\s*[:\-]\s*", re.IGNORECASE)


def clean_line(text: str) -> str:
    """First non-empty line, without a 'Title:'-style label, list bullet or surrounding quotes/markdown."""
    for line in text.strip().splitlines():
        line = _LABEL.sub("", line.strip())
        line = line.strip(" -*#•\t").strip().strip('"“”\'*').strip()
        if line:
            return line
    return ""


def valid_heading(text: str, min_words: int = 1, max_words: int = 10) -> str | None:
    t = clean_line(text).rstrip(".").strip()
    n = len(t.split())
    if not (min_words <= n <= max_words) or len(t) > 90 or not re.search(r"[A-Za-z]", t):
        return None
    if t.lower() in {"title", "heading", "untitled", "summary"} or "transcript" in t.lower():
        return None
    return t


# Words that describe a recording rather than its content ("a discussion of…"): not counted against grounding.
FRAMING = frozenset(content_terms(
    "discussion discusses discuss conversation talk explains explain describes describe overview introduction "
    "introduces presents lecture podcast reading story covers speaker host guest part section"))


def grounded(text: str, source: str, min_frac: float) -> bool:
    """At least `min_frac` of the text's distinct content words occur in the source (a guard against inventions)."""
    terms = set(content_terms(text)) - FRAMING
    if not terms:
        return False
    return len(terms & set(content_terms(source))) / len(terms) >= min_frac


def valid_sentences(text: str, source: str, min_words: int = 5, max_words: int = 90,
                    min_frac: float = 0.5) -> str | None:
    """The model's first paragraph as whole sentences (cut to `max_words`), if grounded in `source`."""
    para = text.strip().split("\n\n")[0]
    t = " ".join(_LABEL.sub("", line.strip()) for line in para.splitlines() if line.strip())
    t = t.strip().strip('"“”').strip()
    sents = re.split(r"(?<=[.!?])\s+", t)
    kept: list[str] = []
    for sent in sents:
        if kept and len(" ".join(kept + [sent]).split()) > max_words:
            break
        kept.append(sent)
    t = " ".join(kept).strip()
    n = len(t.split())
    if not (min_words <= n <= max_words) or not grounded(t, source, min_frac):
        return None
    if not re.search(r"[.!?]$", t):
        t = t.rstrip(",;: ") + "."
    return t


def parse_tags(text: str, min_tags: int = 2, max_tags: int = 6) -> list[str] | None:
    raw = re.split(r"[,\n;#]|\s-\s", clean_line(text) if "\n" not in text.strip() else text)
    tags: list[str] = []
    for t in raw:
        t = _LABEL.sub("", t).strip().strip(".\"'*-• ").lower()
        if not t or len(t) > 30 or len(t.split()) > 3 or not re.fullmatch(r"[a-z0-9][a-z0-9 '&-]*", t):
            continue
        if t not in tags and t not in STOPWORDS:
            tags.append(t)
    return tags[:max_tags] if len(tags) >= min_tags else None


def short_description(summary: str, max_words: int = 30) -> str:
    """The summary's first sentence, cut to `max_words` words."""
    parts = re.split(r"(?<=[.!?])\s+", summary.strip())
    ws = (parts[0] if parts else summary.strip()).split()
    return " ".join(ws) if len(ws) <= max_words else " ".join(ws[:max_words]).rstrip(",;:") + "…"


# -- the model calls --------------------------------------------------------------------------------------------
def leaked_terms(output: str, messages, source: str) -> set[str]:
    """Content words of the output that come from the prompt's worked examples and not from the source: a tiny
    model copying its few-shot example ("a city beekeeper…") instead of describing this recording."""
    examples = " ".join(m["content"] for m in messages[1:-1])
    return set(content_terms(output)) & set(content_terms(examples)) - set(content_terms(source)) - FRAMING


def extract_heading(text: str, max_words: int = 7) -> str:
    """A chapter heading taken from the transcript: the start of its most central sentence."""
    sent = central_sentences(text, 1).strip()
    ws = sent.split()
    head = " ".join(ws[:max_words]).rstrip(",;:.!?")
    head = head[:1].upper() + head[1:]
    return head + ("…" if len(ws) > max_words else "") if head else "Untitled part"
