"""The vocabulary: names and terms the library should spell as given ("Rollo", not "Rolo").

Two lists, kept in the library beside its other tables (rag/tables.py): one for the whole library and one per
episode. Ingest hands an episode's words (its own first, then the library's) to Whisper as a prompt
(ingest/asr/base.py `prompting`), cleanup keeps their spelling (ingest/normalize.py `respell`), and search finds the
passages where an earlier transcript wrote a mis-hearing of one (rag/expand.py). What was measured: docs/vocabulary.md.

An entry compares without case: adding "rollo" where "Rollo" is listed replaces the spelling, it is not a second
entry. An entry may be a short phrase ("Rio Negro").
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from rag.errors import UserInputError
from rag.schema import VocabEntry

if TYPE_CHECKING:
    from rag.store import Store

MAX_CHARS = 64  # one entry
MAX_WORDS = 4  # words in one entry (a name, not a sentence)


class VocabError(UserInputError):
    """A vocabulary entry that cannot be kept, or one that is not there to remove; one line."""


def clean_word(word: str) -> str:
    """The entry as it is kept: NFC, whitespace collapsed; a VocabError when it cannot be an entry."""
    text = " ".join(unicodedata.normalize("NFC", str(word)).split())
    if not text:
        raise VocabError("a vocabulary entry cannot be empty")
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise VocabError(f"a vocabulary entry cannot hold control characters: {text!r}")
    if len(text) > MAX_CHARS or len(text.split()) > MAX_WORDS:
        raise VocabError(f"a vocabulary entry is a name or a term (at most {MAX_WORDS} words, {MAX_CHARS} "
                         f"characters): {text[:40]!r}…")
    if not any(c.isalnum() for c in text):
        raise VocabError(f"a vocabulary entry needs a letter or a digit: {text!r}")
    return text


def _table(store: "Store", per_episode: bool):
    from rag.tables import EPISODE_VOCABULARY, VOCABULARY

    return store._table(EPISODE_VOCABULARY if per_episode else VOCABULARY)


def _where(word: str, episode_id: str | None) -> str:
    from rag.tables import _sql

    same = f"lower(word) = {_sql(word.casefold())}"
    return f"{same} AND episode_id = {_sql(episode_id)}" if episode_id else same


def resolve_episode(store: "Store", ref: str | None) -> str | None:
    """An episode reference (id, unique prefix or title) as its id; None for the library-wide list."""
    if not ref:
        return None
    return store.require_episode(ref, VocabError).id


def add(store: "Store", words: list[str], episode: str | None = None) -> list[VocabEntry]:
    """Add entries to the library's list, or to an episode's (id, prefix or title); returns what was added."""
    episode_id = resolve_episode(store, episode)
    cleaned = list({clean_word(w).casefold(): clean_word(w) for w in words}.values())
    if not cleaned:
        raise VocabError("give at least one word to add")
    entries = [VocabEntry(word=w, episode_id=episode_id) for w in cleaned]
    table = _table(store, bool(episode_id))
    rows = [e.model_dump(include=set(table.schema.names)) for e in entries]
    with store.writing():
        for w in cleaned:  # a new spelling of a listed entry replaces it
            table.delete(_where(w, episode_id))
        table.add(rows)
    return entries


def remove(store: "Store", word: str, episode: str | None = None) -> int:
    """Remove an entry: from one episode's list with `episode`, else from the library's and every episode's.
    Returns how many entries went; a VocabError when none matched."""
    word = clean_word(word)
    episode_id = resolve_episode(store, episode)
    tables = [_table(store, True)] if episode_id else [_table(store, False), _table(store, True)]
    removed = 0
    with store.writing():
        for table in tables:
            where = _where(word, episode_id)
            n = table.count_rows(where)
            if n:
                table.delete(where)
                removed += n
    if not removed:
        where = "this episode's vocabulary" if episode_id else "the vocabulary"
        raise VocabError(f"'{word}' is not in {where} (see: audiorag vocab list)")
    return removed


def entries(store: "Store", episode: str | None = None) -> list[VocabEntry]:
    """Every entry (the library's first, then each episode's, alphabetical), or only one episode's own."""
    episode_id = resolve_episode(store, episode)
    out = [] if episode_id else library_entries(store)
    return out + episode_entries(store, episode_id)


def _readable(store: "Store", per_episode: bool) -> bool:
    """Whether the table exists: a library opened by an older version (before m005) has none, and reads as empty."""
    from rag.tables import EPISODE_VOCABULARY, VOCABULARY

    return store._has(EPISODE_VOCABULARY if per_episode else VOCABULARY)


def library_entries(store: "Store") -> list[VocabEntry]:
    if not _readable(store, per_episode=False):
        return []
    rows = _table(store, per_episode=False).search().limit(None).to_list()
    return sorted((VocabEntry(**r) for r in rows), key=lambda e: e.word.casefold())


def episode_entries(store: "Store", episode_id: str | None = None) -> list[VocabEntry]:
    """One episode's own entries, or (None) every episode's."""
    from rag.tables import _sql

    if not _readable(store, per_episode=True):
        return []
    q = _table(store, per_episode=True).search()
    if episode_id:
        q = q.where(f"episode_id = {_sql(episode_id)}")
    return sorted((VocabEntry(**r) for r in q.limit(None).to_list()), key=lambda e: (e.episode_id, e.word.casefold()))


def words_for(store: "Store", episode_id: str | None = None) -> list[str]:
    """The spellings that apply to an episode: its own entries first, then the library's (no repeats)."""
    found = (episode_entries(store, episode_id) if episode_id else []) + library_entries(store)
    spelled: dict[str, str] = {}
    for e in found:
        spelled.setdefault(e.word.casefold(), e.word)
    return list(spelled.values())


def all_words(store: "Store") -> list[str]:
    """Every entry's spelling, the library's and each episode's (what search expands)."""
    spelled: dict[str, str] = {}
    for e in library_entries(store) + episode_entries(store):
        spelled.setdefault(e.word.casefold(), e.word)
    return list(spelled.values())
