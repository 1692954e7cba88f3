"""Correcting a transcript: one segment's text replaced in place, its original kept for undo.

The corrected text is written into the segments table itself, so everything that reads segments — exports, the
app, summaries — shows it; the episode's chunks are rebuilt from its segments and re-embedded, so full-text search
finds the new words (and not the old ones) and answers quote the corrected text. The segment keeps its id and
times; its word timings, which belong to the old words, are dropped. The original segment (text and words) is kept
in the `segment_edits` table until the edit is reverted.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from rag.schema import Segment
from rag.errors import StoreError
from rag.tables import _sql

EDITS = "segment_edits"


def _edits(store):
    import pyarrow as pa

    if EDITS not in store._tables:
        schema = pa.schema([pa.field("episode_id", pa.string()), pa.field("id", pa.int64()),
                            pa.field("original", pa.string()), pa.field("edited", pa.timestamp("us", tz="UTC"))])
        store._tables[EDITS] = store.db.create_table(EDITS, schema=schema, exist_ok=True)
    return store._tables[EDITS]


def edited_ids(store, episode_id: str) -> set[int]:
    rows = _edits(store).search().where(f"episode_id = {_sql(episode_id)}").select(["id"]).limit(None).to_list()
    return {int(r["id"]) for r in rows}


def _segment(store, episode_id: str, segment_id: int) -> Segment:
    found = store.segments(episode_id, ids=[segment_id])
    if not found:
        raise StoreError(f"Episode {episode_id[:12]} has no segment {segment_id}.")
    return found[0]


def _replace(store, embedder, episode_id: str, segment: Segment) -> None:
    from rag.reembed import reembed

    segments = [segment if s.id == segment.id else s for s in store.segments(episode_id)]
    store.write_segments(episode_id, segments)
    reembed(store, embedder, episode_id, segments)


def edit_segment(store, embedder, episode_id: str, segment_id: int, text: str) -> Segment:
    """Replace a segment's text (same id and times); the first edit keeps the original for revert_segment."""
    import pyarrow as pa

    text = " ".join((text or "").split())
    if not text:
        raise StoreError("A line cannot be empty: revert it instead.")
    current = _segment(store, episode_id, segment_id)
    if text == current.text.strip():
        return current
    if segment_id not in edited_ids(store, episode_id):
        row = {"episode_id": episode_id, "id": segment_id, "original": current.model_dump_json(),
               "edited": datetime.now(timezone.utc)}
        _edits(store).add(pa.Table.from_pylist([row], schema=_edits(store).schema))
    updated = current.model_copy(update={"text": text, "words": []})
    _replace(store, embedder, episode_id, updated)
    return updated


def revert_segment(store, embedder, episode_id: str, segment_id: int) -> Segment:
    """Put back the segment as it was before its first edit."""
    rows = (_edits(store).search().where(f"episode_id = {_sql(episode_id)} AND id = {int(segment_id)}")
            .limit(None).to_list())
    if not rows:
        raise StoreError(f"Segment {segment_id} has not been edited.")
    original = Segment.model_validate(json.loads(rows[0]["original"]))
    _replace(store, embedder, episode_id, original)
    _edits(store).delete(f"episode_id = {_sql(episode_id)} AND id = {int(segment_id)}")
    return original


def forget_episode(store, episode_id: str) -> None:
    """Drop an episode's kept originals (when the episode is deleted)."""
    if store._has(EDITS):
        _edits(store).delete(f"episode_id = {_sql(episode_id)}")
