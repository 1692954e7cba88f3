"""Search for a vocabulary word also finds where Whisper wrote a mis-hearing of it ("Rollo" finds "Rolo").

A query word that is a vocabulary entry (rag/vocab.py) is expanded with the words of the library's transcripts
that are close to it: by spelling (rapidfuzz's ratio, at least SPELLING_RATIO) or by sound (the same SoundKey of
at least KEY_MIN consonants, and a looser spelling ratio). The library's distinct words are read once per version
of its segments table and cached, so a search pays for a set lookup and one fuzzy scan of the vocabulary words it
names, not for reading the transcripts. Measured in docs/vocabulary.md.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.store import Store

SPELLING_RATIO = 75  # rapidfuzz.fuzz.ratio, 0–100: "Rollo"/"Rolo" 89, "Davies"/"Davis" 91, "Solimoes"/"Salimos" 80
SOUND_RATIO = 40  # … enough when the sound keys agree: "Siobhan"/"Chivon" 46, "Pannartz"/"Panerts" 67
KEY_MIN = 3  # consonants a sound key needs to count ("rl" matches too much)
# A mis-hearing is about as long as the word: at most max(2, a third of its length) letters more or fewer
# ("Rollover" is no "Rollo").
MIN_LEN = 4  # shorter vocabulary words are not expanded (too many look-alikes)
MAX_EXPANSIONS = 6  # per vocabulary word, closest first

_CACHE: dict[str, tuple[int, frozenset[str]]] = {}  # library uri → (segments version, its distinct words)
_LOCK = threading.Lock()
_DIGRAPHS = (("x", "ks"), ("sch", "x"), ("sio", "x"), ("tio", "x"), ("sh", "x"), ("ch", "x"), ("ph", "f"), ("ck", "k"),
             ("gh", "g"), ("kn", "n"), ("wr", "r"), ("qu", "k"), ("ng", "n"))
_VOICED = str.maketrans("bvfdgqczj", "pppkkkssx")  # voicing and labials merged: what tiny ASR confuses
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")  # as rag.search.words
_SILENT = re.compile(r"[aeiouyhw]")


def sound_key(word: str) -> str:
    """A crude phonetic key: digraphs as one sound, voiced and unvoiced consonants merged, vowels and h/w/y
    dropped, repeats collapsed. "Siobhan" and "Chivon" are both "xpn"; "Pannartz" and "Panerts" "pnrts"."""
    w = word.casefold()
    for a, b in _DIGRAPHS:
        w = w.replace(a, b)
    w = _SILENT.sub("", w.translate(_VOICED))
    return re.sub(r"(.)\1+", r"\1", re.sub(r"[^a-z]", "", w))


def close_words(term: str, candidates: frozenset[str] | set[str]) -> list[str]:
    """The candidates (lower-case words) that may be Whisper's writing of `term`, closest first; never `term`."""
    from rapidfuzz import fuzz, process

    term = term.casefold()
    if len(term) < MIN_LEN:
        return []
    key = sound_key(term)
    scored = process.extract(term, candidates, scorer=fuzz.ratio, score_cutoff=SOUND_RATIO, limit=None)
    out = [(score, w) for w, score, _ in scored if w != term and abs(len(w) - len(term)) <= max(2, len(term) // 3)
           and (score >= SPELLING_RATIO or len(key) >= KEY_MIN and sound_key(w) == key)]
    out.sort(key=lambda t: (-t[0], t[1]))
    return [w for _, w in out[:MAX_EXPANSIONS]]


def library_words(store: "Store") -> frozenset[str]:
    """The distinct lower-case words of every transcript in the library (cached per segments table version)."""
    from rag.tables import SEGMENTS

    table = store._table(SEGMENTS)
    version = table.version
    with _LOCK:
        cached = _CACHE.get(store.uri)
        if cached is not None and cached[0] == version:
            return cached[1]
    import pyarrow.compute as pc

    text = table.search().select(["text"]).limit(None).to_arrow()["text"]
    split = pc.split_pattern_regex(pc.utf8_lower(pc.fill_null(text, "")), r"[^a-z0-9']+")
    found = frozenset(w.strip("'") for w in pc.unique(pc.list_flatten(split)).to_pylist() if w.strip("'"))
    with _LOCK:
        _CACHE[store.uri] = (version, found)
    return found


def misheard(asked: list[str], store: "Store", skip: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """{vocabulary word among the query's words `asked` (lower-case, as rag.search.words splits them): the
    library's words that may be mis-hearings of it}, none of them in `skip` (stop words)."""
    from rag.vocab import all_words

    terms = {w for entry in all_words(store) for w in _WORD.findall(entry.casefold()) if w in set(asked)}
    terms = {t for t in terms if len(t) >= MIN_LEN}
    if not terms:
        return {}
    have = library_words(store)
    found = {t: [w for w in close_words(t, have) if w not in skip] for t in sorted(terms)}
    return {t: ws for t, ws in found.items() if ws}
