"""Model text, pure: strip what a model wrote as citations, recognise "I don't know", split sentences, and the
support check of a model sentence against passages. Shared by rag.answer (hybrid/generative leads) and
rag.answer_model (`--mode model`); rag.answer re-exports it."""

from __future__ import annotations

import re

from rag import prompts
from rag.search import Passage, content_terms
from rag.textnorm import normalize_text

# A model sentence is supported by a passage when this fraction of its content words occur in the passage (or the
# question), with at most MAX_UNSUPPORTED words from neither: a tiny model's inventions are usually one or two words
# slipped into a copied sentence ("a parasitic spider called the varroa mite").
MIN_SUPPORT = 0.75
MAX_UNSUPPORTED = 1

# -- model text handling (pure) ----------------------------------------------------------------------------------
_BRACKETS = re.compile(r"\s*(\[[^\]]*\]|【[^】]*】|\((?:passage|source|see)[^)]*\))", re.IGNORECASE)
_OPEN_BRACKET = re.compile(r"\s*[\[【][^\]】]*$")
_PASSAGE_REF = re.compile(r"\b(according to |as (stated|said) in |in )?passage \d+[,:]?\s*", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*(answer|a)\s*:\s*", re.IGNORECASE)
_SENT_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+")


def strip_model_citations(text: str) -> str:
    """Remove whatever the model wrote as citations or references: [..], 【..】, (Passage 2), 'According to passage 1,'."""
    text = _BRACKETS.sub("", text)
    text = _OPEN_BRACKET.sub("", text)
    text = _PASSAGE_REF.sub("", text)
    text = _PREFIX.sub("", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] if text else text


def says_unknown(text: str) -> bool:
    low = text.lower().replace("’", "'")
    return any(re.search(p, low) for p in prompts.IDK_PATTERNS)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT_END.split(text.strip()) if s.strip()]


def support(sentence: str, passages: list[Passage], question: str = "") -> tuple[int, float, int]:
    """How well the best passage supports a model sentence: (its index, the fraction of the sentence's content words
    found in it or in the question, how many content words are in neither). A sentence that only echoes the
    question (no word from the passage beyond the question's) has no support: (-1, 0.0, n)."""
    terms = set(content_terms(sentence))
    qterms = set(content_terms(question))
    if not terms or not passages:
        return -1, 0.0, len(terms)
    best = (-1, 0.0, len(terms))
    for i, p in enumerate(passages):
        pterms = set(content_terms(p.text))
        if not (terms & pterms) - qterms:
            continue
        covered = terms & (pterms | qterms)
        frac = len(covered) / len(terms)
        if frac > best[1]:  # ties go to the better-ranked passage (the list is best first)
            best = (i, frac, len(terms - covered))
    return best


def is_supported(frac: float, unsupported: int) -> bool:
    return frac >= MIN_SUPPORT and unsupported <= MAX_UNSUPPORTED


def _norm(text: str) -> str:
    return normalize_text(text)


def _distinct(passages: list[Passage]) -> list[Passage]:
    """Passages without a second one for the same moment or with the same words."""
    out, seen = [], set()
    for p in passages:
        keys = {(p.episode_id, round(p.start, 1)), _norm(p.text)}
        if keys & seen:
            continue
        seen |= keys
        out.append(p)
    return out
