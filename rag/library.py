"""`audiorag list | export | delete | reindex`: look after the episodes already in the library."""

from __future__ import annotations

import argparse
import sys

from rag.schema import format_ts


def _store():
    from rag.store import Store

    return Store()


def _find(store, ref: str):
    ep = store.find_episode(ref)
    if ep is None:
        print(f"error: no episode matches '{ref}' (see: audiorag list)", file=sys.stderr)
    return ep


def add_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="include episodes still processing or failed")


def run_list(args: argparse.Namespace) -> int:
    store = _store()
    episodes = store.list_episodes(include_incomplete=args.all)
    if args.json:
        from rag.cli import print_json

        print_json([
            {"id": e.id, "title": e.title, "source": e.source, "duration": e.duration, "status": e.status,
             "language": e.language, "tags": e.tags, "created": e.created.isoformat()}
            for e in episodes
        ])
        return 0
    from rag.table import show_table

    show_table(("id", "title", "duration", "language", "tags", "status", "source"),
               ([e.id[:12], e.title, format_ts(e.duration or 0), e.language or "", ", ".join(e.tags), e.status, e.source]
                for e in episodes), title=f"{len(episodes)} episode(s)")
    return 0


def add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("episode", help="episode id (or a unique prefix) or title")
    p.add_argument("--format", "-f", choices=["srt", "vtt", "json", "md", "txt", "rttm"], default="md")
    p.add_argument("--output", "-o", help="write here instead of stdout")


def run_export(args: argparse.Namespace) -> int:
    from rag.schema import Transcript
    from ingest.writers import get_writer

    store = _store()
    ep = _find(store, args.episode)
    if ep is None:
        return 1
    segments = store.segments(ep.id)
    transcript = Transcript(segments=segments, language=ep.language, model=ep.asr_model, duration=ep.duration,
                            has_word_times=any(s.words for s in segments))
    try:
        text = get_writer(args.format).write(transcript, episode=ep)
    except ValueError as exc:
        print(f"error: {str(exc)[:1].upper()}{str(exc)[1:]}", file=sys.stderr)
        return 1
    from rag.cli import emit

    emit(text, args.output)
    return 0


def add_delete(p: argparse.ArgumentParser) -> None:
    p.add_argument("episodes", nargs="+", metavar="EPISODE", help="episode id (or unique prefix) or title")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def delete_episode(store, episode_id: str) -> None:
    """Remove an episode: rows, vectors, audio copy, exports, cached uploads and old versions (rag.purge)."""
    from rag.purge import delete_episode as purge

    purge(store, episode_id)


def run_delete(args: argparse.Namespace) -> int:
    store = _store()
    failed = 0
    for ref in args.episodes:
        ep = _find(store, ref)
        if ep is None:
            failed += 1
            continue
        if not args.yes:
            if not sys.stdin.isatty():
                print("error: refusing to delete without confirmation; pass --yes", file=sys.stderr)
                return 2
            if input(f"delete '{ep.title}' ({ep.id[:12]})? [y/N] ").strip().lower() not in ("y", "yes"):
                continue
        delete_episode(store, ep.id)
        print(f"deleted {ep.id[:12]} {ep.title}")
    return 1 if failed else 0


def add_reindex(p: argparse.ArgumentParser) -> None:
    p.add_argument("--diarize", action="store_true", dest="add_speakers",
                   help="also label the speakers of episodes ingested without them (from their audio copies)")
    p.add_argument("--speakers", type=int, metavar="N", help="with --diarize: how many people speak, when known")
    p.add_argument("--json", action="store_true")


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


def run_reindex(args: argparse.Namespace) -> int:
    """Rebuild every episode's chunks and vectors from its stored segments with the configured embedder.

    With the model that made the stored vectors, each episode's chunks are replaced in place (one commit each):
    a killed reindex leaves every episode searchable. With another model the chunks table is rebuilt; the
    episodes wait as `processing` (hidden, never half-shown) until theirs are written, and running reindex
    again after an interruption finishes them. With --diarize, episodes without speakers get them first (their
    segments split at speaker turns, so their chunks are rebuilt too)."""
    from rich.progress import track

    from rag.embed import get_embedder
    from rag.reembed import reembed

    store = _store()
    embedder = get_embedder()
    episodes = [e for e in store.list_episodes(include_incomplete=True)
                if e.status == "ready" or (e.status == "processing" and store.row_counts(e.id)[0])]
    if store.embedding_info() not in (None, (embedder.name, embedder.dim)):
        with store.writing():
            for ep in episodes:
                store.put_episode(ep.model_copy(update={"status": "processing"}), insert=False)
            store.reset_chunks(embedder)
    diarized = 0
    for ep in track(episodes, description="reindexing", console=None):
        if args.add_speakers:
            diarized += add_speakers(store, ep, store.settings)
        with store.writing():
            reembed(store, embedder, ep.id)
            store.put_episode(ep.model_copy(update={"status": "ready"}), insert=False)
    store.optimize()
    extra = f"; added speakers to {diarized}" if args.add_speakers else ""
    print(f"reindexed {len(episodes)} episode(s) with {embedder.name}{extra}")
    return 0
