"""Deleting an episode so that it is gone: rows, audio copy, exports, cached uploads and the old table versions.

A delete is written down before it starts (a row in `_pending_deletes`) and crossed out when it is done. If it is
interrupted (`kill -9`, a crash), the next process that opens the library finishes it (`Store.__init__` calls
`finish_pending`), and so does `audiorag optimize`: no orphan survives.

The steps, each safe to repeat:
1. the record of the delete;
2. the episode row (the episode is invisible at once);
3. its files: the audio copy, its exports (`<data>/exports/<id>/`, and the older `$TMPDIR/audiorag-exports/<id>/`),
   and files in the upload caches (`<data>/uploads/`, Gradio's `<data>/.gradio/`) that are its audio (their
   bytes hash to the episode id) or its transcript (text holding most of its words: an uploaded transcript, an
   export the app handed to the browser);
4. its segment, chunk and vector rows, and the originals of its edited segments (rag.edit);
5. compaction that rewrites the data files without its rows, and pruning of every older version (keeping the
   latest only), so no `.lance` file holds its text;
6. the record is removed (and pruned the same way).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

from rag.textnorm import normalize_text

TEXT_SUFFIXES = {".json", ".srt", ".vtt", ".txt", ".md"}
MAX_TEXT_BYTES = 64 << 20  # a cached file larger than this is not an export or a transcript of ours
MATCH_SHARE = 0.8  # a text file holding this share of an episode's distinct words is that episode's transcript


def delete_episode(store, episode_id: str) -> None:
    """Remove an episode completely (see the module doc); safe to call again on a half-deleted one."""
    ep = store.get_episode(episode_id)
    if ep is not None:
        _record(store, ep)
    pending = {r["episode_id"]: r for r in store.pending_deletes()}
    _finish(store, pending.get(episode_id) or {"episode_id": episode_id, "audio_path": None})
    store.optimize(keep_versions=1)


def finish_pending(store) -> list[str]:
    """Finish every delete that was interrupted; returns their episode ids."""
    done = []
    for row in store.pending_deletes():
        _finish(store, row)
        done.append(row["episode_id"])
    if done:
        store.optimize(keep_versions=1)
    return done


def _record(store, episode) -> None:
    """Write down the delete before it starts (what the next opener needs to finish it)."""
    from datetime import datetime, timezone

    import pyarrow as pa

    from rag.tables import PENDING

    table = store._table(PENDING)
    row = {"episode_id": episode.id, "audio_path": episode.audio_path, "title": episode.title,
           "requested": datetime.now(timezone.utc)}
    with store.writing():
        (table.merge_insert("episode_id").when_matched_update_all().when_not_matched_insert_all()
         .execute(pa.Table.from_pylist([row], schema=table.schema)))


def _finish(store, row: dict) -> None:
    episode_id = row["episode_id"]
    from rag.tables import EPISODES, PENDING, _sql

    with store.writing():
        store._table(EPISODES).delete(f"id = {_sql(episode_id)}")
    words = _words(" ".join(s.text for s in store.segments(episode_id)))
    removed = delete_files(store.settings, episode_id, row.get("audio_path"), words)
    store.delete_episode(episode_id)
    from rag.edit import forget_episode

    forget_episode(store, episode_id)  # the originals kept for undoing its segment edits
    with store.writing():
        store._table(PENDING).delete(f"episode_id = {_sql(episode_id)}")
    from rag.audit import record

    record(store.settings, "delete", role="library", episode=episode_id, files_removed=len(removed))


def delete_files(settings, episode_id: str, audio_path: str | None, words: set[str]) -> list[str]:
    """Delete the episode's files (audio copy, exports, cached uploads); returns what was removed."""
    from rag.storage import delete_file

    removed = []
    if audio_path:
        delete_file(audio_path, settings)
        removed.append(audio_path)
    if settings.is_remote_store:
        return removed
    data = Path(settings.data_dir).expanduser()
    for audio in (data / "audio").glob(f"{episode_id}.*"):
        audio.unlink(missing_ok=True)
        removed.append(str(audio))
    for folder in export_dirs(settings, episode_id):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    for cache in upload_caches(settings):
        for f in [f for f in _files(cache) if _belongs(f, episode_id, words)]:
            f.unlink(missing_ok=True)
            removed.append(str(f))
            _drop_empty_parents(f.parent, cache)
    return removed


def export_dirs(settings, episode_id: str) -> list[Path]:
    """Where the app writes an episode's exports (`<data>/exports/<id>/`, rag.private), and where versions before
    it did: the shared `$TMPDIR/audiorag-exports/<id>/` — only when that folder is ours and no link (anyone
    could have planted one there)."""
    dirs = [Path(settings.data_dir).expanduser() / "exports" / episode_id[:16]]
    legacy = Path(tempfile.gettempdir()) / "audiorag-exports"
    try:
        st = legacy.lstat()
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():
            dirs.append(legacy / episode_id[:16])
    except OSError:
        pass
    return dirs


def upload_caches(settings) -> list[Path]:
    """Folders that hold copies of uploaded files (ours, then Gradio's)."""
    data = Path(settings.data_dir).expanduser()
    return [data / "uploads", data / ".gradio"]


def _files(root: Path):
    if not root.is_dir():
        return
    for f in list(root.rglob("*")):
        if not f.is_symlink() and f.is_file():
            yield f


def _words(text: str) -> set[str]:
    return {w for w in normalize_text(text).split() if len(w) >= 3}


def _text_of(path: Path) -> str:
    raw = path.read_bytes().decode("utf-8", errors="ignore")
    if path.suffix.lower() == ".json":
        try:
            return " ".join(_strings(json.loads(raw)))
        except ValueError:
            pass
    return raw


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def _belongs(path: Path, episode_id: str, words: set[str]) -> bool:
    """Is this cached file the episode's audio (same bytes) or its transcript (most of its words)?"""
    from ingest.decode import DecodeError, content_hash

    try:
        if path.stat().st_size == 0:
            return False
        if content_hash(path) == episode_id:  # its audio, or a transcript imported without audio: same bytes
            return True
        if path.suffix.lower() in TEXT_SUFFIXES and path.stat().st_size <= MAX_TEXT_BYTES and words:
            return len(words & _words(_text_of(path))) >= MATCH_SHARE * len(words)
        return False
    except (OSError, DecodeError):
        return False


def _drop_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
