"""Schema changes as migrations: a plain list of functions, each applied once per library and recorded by name
in a tiny `_migrations` table (the way simonw/llm does it). `Store.migrate` runs `apply_migrations`; a migration
gets the opened Store and uses its tables."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from rag.tables import (EPISODE_VOCABULARY, EPISODES, MIGRATIONS_TABLE, PENDING, SEGMENTS, SPEAKERS, VOCABULARY,
                        episodes_schema, segments_schema, speakers_schema, vocabulary_schema)

if TYPE_CHECKING:
    import pyarrow as pa

Migration = Callable[[Any], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register a schema change. Append only; never rename or reorder one that has shipped."""
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_create_tables(store: Any) -> None:
    # The chunks table is created with the first vectors, when the embedding dimension is known.
    store.db.create_table(EPISODES, schema=episodes_schema(), exist_ok=True)
    store.db.create_table(SEGMENTS, schema=segments_schema(), exist_ok=True)


@migration
def m002_fail_impossible_times(store: Any) -> None:
    """Episodes an older version stored with NaN, infinite, negative or reversed times (it had no validator) are
    marked failed, so list, export, search and the app never meet them; `ingest --force` redoes one."""
    for episode_id in _episodes_with_bad_times(store):
        ep = store.get_episode(episode_id)
        if ep is not None:
            duration = ep.duration if ep.duration is not None and math.isfinite(ep.duration) else None
            store.put_episode(ep.model_copy(update={"status": "failed", "duration": duration}))


def _episodes_with_bad_times(store: Any) -> set[str]:
    import pyarrow.compute as pc

    def bad_time(col) -> "pa.Array":  # NaN, ±inf or negative; a null (unknown) is fine
        return pc.fill_null(pc.or_(pc.invert(pc.is_finite(col)), pc.less(col, 0.0)), False)

    episodes = store._table(EPISODES).search().select(["id", "duration"]).limit(None).to_arrow()
    bad = set(episodes.filter(bad_time(episodes["duration"]))["id"].to_pylist())
    segments = store._table(SEGMENTS)
    rows = segments.search().select(["episode_id", "start", "end"]).limit(None).to_arrow()
    reversed_ = pc.fill_null(pc.less(rows["end"], rows["start"]), False)
    broken = pc.or_(pc.or_(bad_time(rows["start"]), bad_time(rows["end"])), reversed_)
    bad.update(rows.filter(broken)["episode_id"].to_pylist())
    words = "words LIKE '%: NaN%' OR words LIKE '%: Infinity%' OR words LIKE '%: -Infinity%'"
    bad.update(r["episode_id"] for r in segments.search().where(words).select(["episode_id"]).limit(None).to_list())
    return bad


def pending_schema() -> "pa.Schema":
    import pyarrow as pa

    return pa.schema([pa.field("episode_id", pa.string()), pa.field("audio_path", pa.string()),
                      pa.field("title", pa.string()), pa.field("requested", pa.timestamp("us", tz="UTC"))])


@migration
def m003_pending_deletes(store: Any) -> None:
    store.db.create_table(PENDING, schema=pending_schema(), exist_ok=True)


@migration
def m004_speakers(store: Any) -> None:
    """Speakers: segments gain `overlap` (False for what was stored before), and a speakers table holds each
    episode's voices. Older episodes keep their segments; `audiorag reindex --diarize` adds speakers to them."""
    segments = store._table(SEGMENTS)
    if "overlap" not in segments.schema.names:
        segments.add_columns({"overlap": "CAST(false AS BOOLEAN)"})
        store._tables.pop(SEGMENTS, None)
    store.db.create_table(SPEAKERS, schema=speakers_schema(), exist_ok=True)


@migration
def m005_vocabulary(store: Any) -> None:
    """The vocabulary: spellings ingest passes to Whisper and search expands (rag/vocab.py)."""
    store.db.create_table(VOCABULARY, schema=vocabulary_schema(False), exist_ok=True)
    store.db.create_table(EPISODE_VOCABULARY, schema=vocabulary_schema(True), exist_ok=True)


def apply_migrations(store: Any, migrations: list[Migration] | None = None) -> list[str]:
    """Apply the `migrations` (default: all) this library has not seen yet; returns their names."""
    import pyarrow as pa

    from rag.locks import schema_lock

    migrations = MIGRATIONS if migrations is None else migrations
    schema = pa.schema([pa.field("name", pa.string()), pa.field("applied", pa.timestamp("us", tz="UTC"))])
    if store._has(MIGRATIONS_TABLE):  # the common case, without waiting for the lock
        done = {r["name"] for r in store._table(MIGRATIONS_TABLE).search().select(["name"]).limit(None).to_list()}
        if all(fn.__name__ in done for fn in migrations):
            return []
    with schema_lock(store.settings):
        table = store.db.create_table(MIGRATIONS_TABLE, schema=schema, exist_ok=True)
        done = {r["name"] for r in table.search().select(["name"]).limit(None).to_list()}
        applied = []
        for fn in migrations:
            if fn.__name__ in done:
                continue
            fn(store)
            table.add([{"name": fn.__name__, "applied": datetime.now(timezone.utc)}])
            applied.append(fn.__name__)
        return applied
