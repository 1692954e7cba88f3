"""The library's tables in LanceDB: episodes, segments, chunks (with vectors and a full-text index).

Visibility rule: search only ever returns rows of episodes whose status is `ready`. `write_episode` marks the
episode `processing`, replaces its segments and chunks, and only then marks it `ready`, so a reader never sees
a half-written episode, even when the writer is killed in between (the episode stays `processing` until it is
written again).

Each table's rows for one episode are replaced with a single `merge_insert` keyed on (episode_id, id) that also
deletes this episode's rows missing from the new data (`when_not_matched_by_source_delete`). That is one commit per
table, idempotent (a rewrite updates rows in place, never duplicates) and without the empty window that
delete-then-add would leave between its two commits.

The chunks table remembers the embedding model (as configured) and its dimension in its schema metadata; using
the table with another model raises `EmbeddingMismatch` instead of comparing unrelated vectors.

Schema changes are migrations (rag/migrations.py); the searches over the chunks table are rag/store_search.py's,
which `Store` inherits.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Iterable

from rag.errors import StoreError  # noqa: F401  (re-exported)
from rag.migrations import MIGRATIONS, apply_migrations, migration, pending_schema  # noqa: F401  (re-exported)
from rag.schema import Chunk, Episode, Segment
from rag.store_search import StoreSearch
from rag.tables import (  # noqa: F401  (re-exported: the tables as data live in rag/tables.py)
    EPISODES,
    SEGMENTS,
    CHUNKS,
    MIGRATIONS_TABLE,
    SPEAKERS,
    VOCABULARY,
    EPISODE_VOCABULARY,
    PENDING,
    LOCKED_TABLES,
    META_MODEL,
    META_DIM,
    VECTOR_INDEX_MIN_ROWS,
    chunks_schema,
    episodes_schema,
    segments_schema,
    speakers_schema,
    vocabulary_schema,
    _fields,
    _from_row,
    _in,
    _sql,
    _to_row,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from rag.settings import Settings


class EmbeddingMismatch(StoreError):
    """The vectors in the library were made by another embedding model than the one configured."""


# -- the store ------------------------------------------------------------------------------------------------


class Store(StoreSearch):
    def __init__(self, settings: "Settings | None" = None, embedder: Any = None) -> None:
        """Open (or create) the library. With `embedder`, check now that the vectors were made by it."""
        import lancedb

        from rag.settings import get_settings

        self.settings = settings or get_settings()
        self.embed_model = embedder.name if embedder is not None else self.settings.embed.model
        self.uri = self.settings.data_path("library")
        if not self.settings.is_remote_store:
            from rag.private import data_root, make_private

            make_private(data_root(self.settings) / "library")  # the data dir is created 0700
        # timedelta(0): every read sees the latest commit, also other processes' (the UI while ingest runs).
        from rag.storage import storage_options

        self.db = lancedb.connect(self.uri, storage_options=storage_options(self.settings),
                                  read_consistency_interval=timedelta(0))
        self._tables: dict[str, Any] = {}
        self.migrate()
        if embedder is not None:
            self.check_embedding(embedder.dim)
        if self.pending_deletes():  # a delete was interrupted: finish it before anything reads the library
            from rag.purge import finish_pending

            finish_pending(self)

    def writing(self):
        """Hold while changing rows (shared between writers; `optimize` waits for it, see rag.locks)."""
        from rag.locks import library_lock

        return library_lock(self.settings, shared=True)

    # tables
    def _has(self, name: str) -> bool:
        """Whether the table exists and opens. Another process creating it may have made its folder (so it is
        listed) before its first version is written: until then it is not there."""
        if name in self._tables:
            return True
        if name not in self._table_names():
            return False
        try:
            self._table(name)
        except ValueError as exc:  # lancedb: "Table '…' was not found"
            if "not found" not in str(exc):
                raise
            return False
        return True

    def _table_names(self) -> list[str]:
        return list(self.db.list_tables().tables)

    def _table(self, name: str):
        if name not in self._tables:
            self._tables[name] = self.db.open_table(name)
        return self._tables[name]

    def _chunks(self):
        """The chunks table, or None before the first vectors are written."""
        return self._table(CHUNKS) if self._has(CHUNKS) else None

    def migrate(self) -> list[str]:
        """Apply the migrations (rag.migrations) this library has not seen yet; returns their names."""
        return apply_migrations(self, MIGRATIONS)

    # embedding metadata
    def embedding_info(self) -> tuple[str, int] | None:
        """(model, dimension) that made the stored vectors, or None before any were written."""
        table = self._chunks()
        if table is None:
            return None
        meta = table.schema.metadata or {}
        return meta.get(META_MODEL, b"?").decode(), int(meta.get(META_DIM, b"0"))

    def check_embedding(self, dim: int | None = None) -> None:
        info = self.embedding_info()
        if info is None:
            return
        model, stored_dim = info
        if model != self.embed_model or (dim is not None and dim != stored_dim):
            raise EmbeddingMismatch(
                f"this library's vectors were made by embedding model '{model}' ({stored_dim}-d), but "
                f"'{self.embed_model}'{f' ({dim}-d)' if dim else ''} is configured; run `audiorag reindex` to "
                f"re-embed with it, or set the embedding model back to '{model}'"
            )

    def reset_chunks(self, embedder: Any) -> None:
        """Drop every chunk and vector and start an empty chunks table for `embedder` (what reindex does first)."""
        from rag.locks import schema_lock

        with self.writing(), schema_lock(self.settings):
            if self._has(CHUNKS):
                self.db.drop_table(CHUNKS)
            self._tables.pop(CHUNKS, None)
            self.embed_model = embedder.name
            self._create_chunks(embedder.dim)

    def _create_chunks(self, dim: int):
        from rag.locks import schema_lock

        with schema_lock(self.settings):  # two first writers must not both create it
            table = self.db.create_table(CHUNKS, schema=chunks_schema(self.embed_model, dim), exist_ok=True)
        self._tables[CHUNKS] = table
        self.check_embedding(dim)  # a concurrent writer may have created it first, with another model
        self._ensure_fts(table)
        return table

    @staticmethod
    def _ensure_fts(table) -> None:
        """Native full-text index on chunks.text, with positions for phrase queries. Rows added after it was
        built are still searched (flat); `optimize()` folds them into the index."""
        from lancedb.index import FTS

        if not any(ix.columns == ["text"] for ix in table.list_indices()):
            table.create_index("text", config=FTS(with_position=True), replace=True)

    # writes
    def put_episode(self, episode: Episode, insert: bool = True) -> None:
        """Insert or replace one episode row as given (status included); with insert=False only replace it, so
        a change made while another process deletes the episode never brings its row back."""
        import pyarrow as pa

        table = self._table(EPISODES)
        data = pa.Table.from_pylist([_to_row(episode)], schema=table.schema)
        merge = table.merge_insert("id").when_matched_update_all()
        with self.writing():
            (merge.when_not_matched_insert_all() if insert else merge).execute(data)

    def _replace_rows(self, name: str, episode_id: str, data: "pa.Table") -> None:
        table = self._table(name)
        with self.writing():
            if data.num_rows == 0:
                table.delete(f"episode_id = {_sql(episode_id)}")
                return
            (table.merge_insert(["episode_id", "id"]).when_matched_update_all().when_not_matched_insert_all()
             .when_not_matched_by_source_delete(f"episode_id = {_sql(episode_id)}").execute(data))

    def write_segments(self, episode_id: str, segments: list[Segment]) -> None:
        import pyarrow as pa

        _unique_ids(segments, "segment")
        rows = [_to_row(s, episode_id=episode_id) for s in segments]
        self._replace_rows(SEGMENTS, episode_id, pa.Table.from_pylist(rows, schema=self._table(SEGMENTS).schema))

    def write_chunks(self, episode_id: str, chunks: list[Chunk], vectors: "np.ndarray") -> None:
        """Replace this episode's chunks and vectors (rows in the order of `chunks`)."""
        import numpy as np
        import pyarrow as pa

        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(chunks):
            raise StoreError(f"{len(chunks)} chunks but vectors of shape {vectors.shape}")
        if any(c.episode_id != episode_id for c in chunks):
            raise StoreError(f"chunks of another episode passed to write_chunks({episode_id!r})")
        _unique_ids(chunks, "chunk")
        dim = vectors.shape[1]
        self.check_embedding(dim)
        table = self._chunks()
        if table is None:
            table = self._create_chunks(dim)
        schema = table.schema
        rows = pa.Table.from_pylist([_to_row(c) for c in chunks], schema=pa.schema([f for f in schema if f.name != "vector"]))
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        data = rows.append_column(schema.field("vector"), pa.FixedSizeListArray.from_arrays(flat, dim))
        self._replace_rows(CHUNKS, episode_id, data.select(schema.names))
        self._ensure_fts(table)

    def write_episode(self, episode: Episode, segments: list[Segment], chunks: list[Chunk], vectors: "np.ndarray") -> Episode:
        """`_write_episode`, redone on a retryable commit conflict with another process (rag.locks)."""
        from rag.locks import retry_conflicts

        return retry_conflicts(self._write_episode, episode, segments, chunks, vectors)

    def _write_episode(self, episode: Episode, segments: list[Segment], chunks: list[Chunk], vectors: "np.ndarray") -> Episode:
        """Store one complete episode: hidden (`processing`) while its rows change, `ready` once all are written.

        Idempotent: writing the same episode again replaces its rows (no duplicates, stale rows removed).
        Before `ready` is written the rows are counted back: an episode is never ready without all of them.
        """
        self.check_embedding(int(getattr(vectors, "shape", (0, 0))[-1]) if len(chunks) else None)
        with self.writing():
            self.put_episode(episode.model_copy(update={"status": "processing"}))
            self.write_segments(episode.id, segments)
            self.write_chunks(episode.id, chunks, vectors)
            stored = self.row_counts(episode.id)
            if stored != (len(segments), len(chunks)):
                raise StoreError(f"episode {episode.id}: {stored[0]} of {len(segments)} segments and {stored[1]} of "
                                 f"{len(chunks)} chunks were stored; ingest it again")
            ready = episode.model_copy(update={"status": "ready"})
            self.put_episode(ready)
        return ready

    def row_counts(self, episode_id: str) -> tuple[int, int]:
        """(segments, chunks) stored for an episode."""
        where = f"episode_id = {_sql(episode_id)}"
        chunks = self._chunks()
        return self._table(SEGMENTS).count_rows(where), chunks.count_rows(where) if chunks is not None else 0

    def is_complete(self, episode_id: str) -> bool:
        """A ready episode has segments and chunks (a ready episode without them is redone by ingest)."""
        return all(self.row_counts(episode_id))

    def set_episode_fields(self, episode_id: str, **fields: Any) -> Episode:
        """Change some fields of a stored episode (summary, tags, chapters, title…), validated by the schema."""
        unknown = set(fields) - set(Episode.model_fields) | ({"id"} & set(fields))
        if unknown:
            raise StoreError(f"cannot set episode field(s): {', '.join(sorted(unknown))}")
        current = self.get_episode(episode_id)
        if current is None:
            raise StoreError(f"no episode with id '{episode_id}'")
        updated = Episode.model_validate({**current.model_dump(), **fields})
        self.put_episode(updated, insert=False)
        return updated

    def delete_episode(self, episode_id: str) -> str | None:
        """Remove the episode, its segments, chunks and vectors. Returns its audio copy's location (for the
        caller to delete), or None. The episode row goes first, so its other rows are invisible at once.
        (Rows only: rag.purge.delete_episode also removes its files and the old versions that held it.)"""
        ep = self.get_episode(episode_id)
        where = f"episode_id = {_sql(episode_id)}"
        with self.writing():
            self._table(EPISODES).delete(f"id = {_sql(episode_id)}")
            if self._chunks() is not None:
                self._chunks().delete(where)
            self._table(SEGMENTS).delete(where)
            self._table(SPEAKERS).delete(where)
            self._table(EPISODE_VOCABULARY).delete(where)
        return ep.audio_path if ep is not None else None

    # upkeep (rag.purge: deletes and the record of those in progress; rag.optimize: compaction and pruning)
    def pending_deletes(self) -> list[dict]:
        """Deletes that were started and not finished (rag.purge)."""
        if not self._has(PENDING):
            return []
        return self._table(PENDING).search().limit(None).to_list()

    def optimize(self, keep_versions: int | None = None) -> dict[str, int]:
        """Compact, index, drop rows without an episode, prune old versions: see rag.optimize.compact."""
        from rag.optimize import compact

        return compact(self, keep_versions)

    # reads
    def _episode_rows(self, where: str | None = None) -> list[dict]:
        q = self._table(EPISODES).search()
        if where:
            q = q.where(where)
        return q.limit(None).to_list()

    def get_episode(self, episode_id: str) -> Episode | None:
        rows = self._episode_rows(f"id = {_sql(episode_id)}")
        return _from_row(Episode, rows[0]) if rows else None

    def list_episodes(self, include_incomplete: bool = False) -> list[Episode]:
        """Ready episodes (with include_incomplete, also processing and failed ones), oldest first."""
        rows = self._episode_rows(None if include_incomplete else "status = 'ready'")
        return sorted((_from_row(Episode, r) for r in rows), key=lambda e: (e.created, e.title))

    def segments(self, episode_id: str, ids: Iterable[int] | None = None) -> list[Segment]:
        """The episode's segments in time order (only `ids`, when given)."""
        where = f"episode_id = {_sql(episode_id)}"
        if ids is not None:
            ids = [int(i) for i in ids]
            if not ids:
                return []
            where += f" AND id IN ({', '.join(map(str, ids))})"
        rows = self._table(SEGMENTS).search().where(where).limit(None).to_list()
        return sorted((_from_row(Segment, r) for r in rows), key=lambda s: (s.start, s.id))

    def chunks(self, episode_id: str) -> list[Chunk]:
        table = self._chunks()
        if table is None:
            return []
        cols = [f.name for f in table.schema if f.name != "vector"]
        rows = table.search().where(f"episode_id = {_sql(episode_id)}").select(cols).limit(None).to_list()
        return sorted((_from_row(Chunk, r) for r in rows), key=lambda c: (c.start, c.id))

    def counts(self) -> dict[str, int]:
        chunks = self._chunks()
        return {
            "episodes": self._table(EPISODES).count_rows(),
            "ready": self._table(EPISODES).count_rows("status = 'ready'"),
            "segments": self._table(SEGMENTS).count_rows(),
            "chunks": chunks.count_rows() if chunks is not None else 0,
        }

    # files beside the tables
    def audio_dir(self) -> str:
        return audio_dir(self.settings)


def audio_dir(settings: "Settings | None" = None) -> str:
    """Where the library keeps its audio copies (a path or URI); files there are the pipeline's business."""
    from rag.settings import get_settings

    return (settings or get_settings()).data_path("audio")


def _unique_ids(items: list, what: str) -> None:
    seen: set = set()
    for item in items:
        if item.id in seen:
            raise StoreError(f"duplicate {what} id {item.id!r}")
        seen.add(item.id)
