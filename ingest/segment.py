"""Re-cut ASR segments into sentence/clause-sized pieces that start where speech starts.

Whisper cuts segments at its 30 s window, often mid-sentence, so a citation to "the segment" can land seconds
before the moment that answers a question. With word timestamps and the audio we can do better:
- find pauses in the audio itself (frames well below the recording's speech level for >= `min_silence` s);
- split between two words at a sentence end (. ? !) or where a pause lies at their boundary (Whisper's word
  alignment often stretches a word over the pause that follows it, so the boundary region is widened);
- move word edges that fall inside a pause out of it, so a segment starts when its first word is spoken;
- fold fragments of one or two words (a pause after "and", "The") into a neighbour unless they are a sentence.
Segment ids are renumbered; words and their times are kept (never invented).
"""

from __future__ import annotations

import numpy as np

from rag.textnorm import ends_sentence
from rag.schema import Segment, Transcript, Word

SR = 16000
MIN_WORDS = 3  # a shorter piece is folded into a neighbour unless it is a whole sentence
CONTINUES = tuple(",.;:!?%)'’")  # a word piece starting with one of these joins the previous word
NO_SPACE_LANGUAGES = {"zh", "ja", "th", "lo", "my", "km", "yue", "bo"}  # written without spaces between words


def join_words(words: list[Word], language: str | None = None) -> str:
    """A segment's text from its words. The ASR backends store words stripped ("Hello", "there."), so they are
    joined with spaces, except in languages written without them; Whisper-style words that still carry their
    leading space are joined as they are."""
    if any(w.word[:1].isspace() for w in words):
        return "".join(w.word for w in words).strip()
    if (language or "").split("-")[0].lower() in NO_SPACE_LANGUAGES:
        return "".join(w.word.strip() for w in words).strip()
    # Whisper splits "1,542" into "1" + ",542" and "B.C." into "B" + ".C.": a piece that starts with punctuation
    # continues the word before it.
    out = ""
    for w in words:
        piece = w.word.strip()
        out += piece if (not out or piece[:1] in CONTINUES) else " " + piece
    return out.strip()


def find_silences(audio: np.ndarray, sr: int = SR, rel_db: float = 35.0, min_silence: float = 0.2,
                  hop: float = 0.01, win: float = 0.03) -> list[tuple[float, float]]:
    """Intervals (start, end) in seconds where the level stays `rel_db` below the loud (95th pct) frames."""
    h, w = int(hop * sr), int(win * sr)
    if len(audio) < w:
        return []
    n = 1 + (len(audio) - w) // h
    idx = np.arange(w)[None, :] + h * np.arange(n)[:, None]
    frames = audio[idx].astype(np.float32)
    db = 10 * np.log10(np.mean(frames * frames, axis=1) + 1e-12)
    quiet = db < np.percentile(db, 95) - rel_db
    out: list[tuple[float, float]] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2]):
        start, end = a * hop + win / 2, (b - 1) * hop + win / 2
        if end - start >= min_silence:
            out.append((start, end))
    return out


def _snap(word: Word, silences: list[tuple[float, float]]) -> Word:
    start, end = word.start, word.end
    for s, e in silences:
        if s <= start < e:
            start = min(e, end - 0.02)
        if s < end <= e:
            end = max(s, start + 0.02)
    return word if (start, end) == (word.start, word.end) else word.model_copy(update={"start": start, "end": end})


def _pause_between(a: Word, b: Word, silences: list[tuple[float, float]], widen: float) -> bool:
    lo = max(a.start, a.end - widen)
    hi = min(b.end, b.start + widen)
    return any(s < hi and e > lo for s, e in silences)


def _ends(word: Word) -> bool:
    return ends_sentence(word.word)


def merge_fragments(groups: list[list[Word]], min_words: int = MIN_WORDS) -> list[list[Word]]:
    """Fold pieces shorter than `min_words` that are not a whole sentence into a neighbour: a piece that goes on
    with an unfinished phrase joins the one before it ("the art" | "of" → "the art of"), one that opens a sentence
    joins the one after it ("The" | "first books were…" → "The first books were…", so the segment still starts
    where the sentence does). A short sentence of its own ("Yes.") stays: someone said just that."""
    back: list[list[Word]] = []
    for g in groups:
        if back and len(g) < min_words and not _ends(back[-1][-1]):
            back[-1] = back[-1] + g
        else:
            back.append(list(g))
    out: list[list[Word]] = []
    carry: list[Word] = []
    for g in back:
        g = carry + g
        carry = []
        if len(g) < min_words and not _ends(g[-1]):
            carry = g
        else:
            out.append(g)
    if carry:
        if out and not _ends(out[-1][-1]):
            out[-1] = out[-1] + carry
        else:
            out.append(carry)
    return out


def resegment(transcript: Transcript, audio: np.ndarray | None = None, sr: int = SR, widen: float = 0.35,
              min_silence: float = 0.2) -> Transcript:
    """Sentence/pause-based segments from word timestamps (unchanged if there are no words)."""
    words = [w for s in transcript.segments for w in s.words]
    if not words or any(not s.words and s.text.strip() for s in transcript.segments):
        return transcript
    silences = find_silences(audio, sr, min_silence=min_silence) if audio is not None and len(audio) else []
    words = [_snap(w, silences) for w in words]
    groups: list[list[Word]] = [[words[0]]]
    for prev, word in zip(words, words[1:]):
        if _ends(prev) or _pause_between(prev, word, silences, widen):
            groups.append([word])
        else:
            groups[-1].append(word)
    groups = merge_fragments(groups)
    segments = [
        Segment(id=i, start=g[0].start, end=max(g[-1].end, g[0].start), text=join_words(g, transcript.language), words=g)
        for i, g in enumerate(groups)
    ]
    return transcript.model_copy(update={"segments": segments})
