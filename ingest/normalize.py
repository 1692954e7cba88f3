"""Cheap rule-based text cleanup that runs on every transcript, before chunking.

It only ever changes segment *text*: no segment is dropped or merged, and ids, times, speakers and word lists are
kept as they are, so citations and playback links stay exact. (The LLM cleanup in `ingest.enhance` is optional;
this is not.)
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from rag.schema import Transcript
from rag.textnorm import ends_sentence

# Doubled words that are almost always a stutter ("the the", "I I I"). Words that are often doubled on purpose
# ("that that", "had had", "very very", "no no", "bye bye") are deliberately absent.
_STUTTER_WORDS = {
    "a", "an", "the", "i", "we", "you", "he", "she", "it", "they", "and", "or", "but", "to", "of", "in", "on", "at",
    "for", "with", "from", "by", "as", "if", "so", "my", "your", "our", "their", "this", "these", "those", "is",
    "are", "was", "were", "be", "it's", "i'm", "we're", "you're", "they're", "what", "when", "where", "which", "who",
    "like", "um", "uh",
}  # fmt: skip
_REPEAT = re.compile(r"\b([\w']+)(?:\s+\1\b)+", re.IGNORECASE)
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?%…])(?=\s|$|[\"'”’)\]])")
_SPACE_BEFORE_FR = re.compile(r"\s+([,.…])(?=\s|$|[\"'”’)\]])")  # French sets a space before ; : ! ?
_INSIDE_BRACKETS = re.compile(r"([(\[])\s+|\s+([)\]])")


def _drop_stutter(match: re.Match) -> str:
    word = match.group(1)
    return word if word.lower() in _STUTTER_WORDS else match.group(0)


def normalize_text(text: str, language: str | None = None) -> str:
    """Whitespace collapsed and trimmed, stutters removed, no space before punctuation."""
    text = unicodedata.normalize("NFC", text)
    text = " ".join(text.split())
    text = _REPEAT.sub(_drop_stutter, text)
    french = (language or "").lower().startswith("fr")
    text = (_SPACE_BEFORE_FR if french else _SPACE_BEFORE).sub(r"\1", text)
    text = _INSIDE_BRACKETS.sub(lambda m: m.group(1) or m.group(2), text)
    return text


def _capitalise(text: str) -> str:
    """Upper-case the first letter, unless the first word is deliberately lower-case ("iPhone", "eBay")."""
    for i, ch in enumerate(text):
        if ch.isalpha():
            word = text[i:].split(" ", 1)[0]
            if ch.islower() and not any(c.isupper() for c in word[1:]):
                return text[:i] + ch.upper() + text[i + 1 :]
            return text
        if ch.isdigit():
            return text
    return text


def _spelling(words: Iterable[str]) -> tuple[re.Pattern, dict[str, str]] | None:
    spelled = {" ".join(w.split()).casefold(): " ".join(w.split()) for w in words if w.strip()}
    if not spelled:
        return None
    alts = "|".join(r"\s+".join(map(re.escape, w.split())) for w in sorted(spelled, key=len, reverse=True))
    return re.compile(rf"(?<![\w'-])(?:{alts})(?![\w-])", re.IGNORECASE), spelled


def respell(text: str, words: Iterable[str]) -> str:
    """The vocabulary's spellings kept: a word written with other case ("rollo", "SOLIMOES") as the entry is
    ("Rollo", "Solimoes"). Whole words only ("Rollover" stays)."""
    found = _spelling(words)
    if found is None:
        return text
    pattern, spelled = found
    return pattern.sub(lambda m: spelled.get(" ".join(m.group(0).split()).casefold(), m.group(0)), text)


def respell_transcript(transcript: Transcript, words: Iterable[str]) -> Transcript:
    """respell() on every segment's text and on its word list (single-word entries)."""
    words = list(words)
    if not words:
        return transcript
    segments = []
    for seg in transcript.segments:
        timed = [w.model_copy(update={"word": respell(w.word, words)}) for w in seg.words]
        segments.append(seg.model_copy(update={"text": respell(seg.text, words), "words": timed}))
    return transcript.model_copy(update={"segments": segments})


def normalize_transcript(transcript: Transcript, vocabulary: Iterable[str] = ()) -> Transcript:
    """A new Transcript with cleaned segment text; everything else identical. The `vocabulary`'s spellings are
    kept (respell), also where a capital was added.

    A segment's first letter is capitalised when it starts a sentence: the first segment, or one after a segment
    that ended with . ! ? or …. Whisper often splits mid-sentence, and "And then / we went" must stay lower-case.
    """
    segments = []
    sentence_start = True
    for seg in transcript.segments:
        text = normalize_text(seg.text, transcript.language)
        if sentence_start:
            text = _capitalise(text)
        if text:
            sentence_start = ends_sentence(text)
        segments.append(seg.model_copy(update={"text": text}, deep=True))
    return respell_transcript(transcript.model_copy(update={"segments": segments}), vocabulary)
