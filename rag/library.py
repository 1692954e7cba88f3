"""Looking after the episodes already in the library: export a transcript, delete, diarize a stored episode,
re-embed everything (`audiorag list | export | delete | reindex` show them; rag/cli/ holds the commands)."""

from __future__ import annotations

from typing import Callable, Iterable


def export_text(store, ep, fmt: str) -> str:
    """An episode's stored transcript written as `fmt` (srt, vtt, json, md, txt, rttm); a writer that cannot
    write this episode (rttm without speakers) raises ValueError."""
    from ingest.writers import get_writer
    from rag.schema import Transcript

    segments = store.segments(ep.id)
    transcript = Transcript(segments=segments, language=ep.language, model=ep.asr_model, duration=ep.duration,
                            has_word_times=any(s.words for s in segments))
    return get_writer(fmt).write(transcript, episode=ep)


def delete_episode(store, episode_id: str) -> None:
    """Remove an episode: rows, vectors, audio copy, exports, cached uploads and old versions (rag.purge)."""
    from rag.purge import delete_episode as purge

    purge(store, episode_id)


def add_speakers(store, ep, settings) -> bool:
    """Diarize a stored episode from its audio copy: its segments get speakers (split at turns) and its voices are
    stored. False for an episode without audio or already diarized."""
    from rag.voices import episode_speakers

    segments = store.segments(ep.id)
    if not ep.audio_path or not segments or episode_speakers(store, ep.id):
        return False
    from ingest.decode import decode
    from ingest.speakers import diarize_transcript
    from rag.schema import Transcript
    from rag.storage import local_copy
    from rag.voices import speakers_of, write_speakers

    audio = decode(local_copy(ep.audio_path, settings))
    settings = settings.model_copy(update={"diarize": settings.diarize.model_copy(update={"mode": "on"})})
    transcript = Transcript(segments=segments, language=ep.language, has_word_times=any(s.words for s in segments))
    transcript, diarization = diarize_transcript(transcript, audio, settings)
    if diarization is None or not diarization.turns:
        return False
    write_speakers(store, ep.id, speakers_of(diarization, ep.id))
    store.write_segments(ep.id, transcript.segments)
    return True


def reindex_library(store, embedder, *, diarize: bool = False,
                    each: Callable[[list], Iterable] = iter) -> tuple[int, int]:
    """Rebuild every episode's chunks and vectors from its stored segments with `embedder`; (episodes reindexed,
    episodes given speakers). `each` walks the episodes (a progress bar, say).

    With the model that made the stored vectors, each episode's chunks are replaced in place (one commit each):
    a killed reindex leaves every episode searchable. With another model the chunks table is rebuilt; the
    episodes wait as `processing` (hidden, never half-shown) until theirs are written, and running reindex
    again after an interruption finishes them. With `diarize`, episodes without speakers get them first (their
    segments split at speaker turns, so their chunks are rebuilt too)."""
    from rag.reembed import reembed

    episodes = [e for e in store.list_episodes(include_incomplete=True)
                if e.status == "ready" or (e.status == "processing" and store.row_counts(e.id)[0])]
    if store.embedding_info() not in (None, (embedder.name, embedder.dim)):
        with store.writing():
            for ep in episodes:
                store.put_episode(ep.model_copy(update={"status": "processing"}), insert=False)
            store.reset_chunks(embedder)
    diarized = 0
    for ep in each(episodes):
        if diarize:
            diarized += add_speakers(store, ep, store.settings)
        with store.writing():
            reembed(store, embedder, ep.id)
            store.put_episode(ep.model_copy(update={"status": "ready"}), insert=False)
    store.optimize()
    return len(episodes), diarized
