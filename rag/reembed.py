"""Rebuild an episode's chunks and vectors from its stored segments (`audiorag reindex`, a segment edit)."""

from __future__ import annotations


def reembed(store, embedder, episode_id: str, segments=None) -> None:
    """Rebuild one episode's chunks and vectors from its stored segments (after a reindex or a text edit)."""
    from ingest.chunk import chunk_transcript
    from rag.schema import Transcript

    ep = store.get_episode(episode_id)
    segments = store.segments(episode_id) if segments is None else segments
    chunks = chunk_transcript(episode_id, Transcript(segments=segments, language=ep.language if ep else None))
    store.write_chunks(episode_id, chunks, embedder.embed([c.text for c in chunks]))
