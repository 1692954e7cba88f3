"""Keep the library's disk use bounded (`audiorag optimize`, rag/cli/optimize.py; also run at the end of every
ingest batch).

It finishes interrupted deletes, sweeps orphans (audio copies, segment and chunk rows and exports of episodes that
are gone; staging folders and Gradio's upload cache older than a day), compacts the tables, prunes each table's
versions beyond the last `keep_versions` (a setting), and says what it freed. `compact` is the tables' part
(`Store.optimize`), also what every delete ends with (keeping only the latest version).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

STALE_CACHE_S = 24 * 3600  # upload staging and Gradio's cache: what Gradio's own delete_cache keeps


def describe(report: dict) -> str:
    freed = report["bytes_before"] - report["bytes_after"]
    parts = [f"freed {_size(max(freed, 0))} ({_size(report['bytes_before'])} → {_size(report['bytes_after'])})",
             f"{report['old_versions']} old table version(s) pruned"]
    if report["orphan_rows"]:
        parts.append(f"{report['orphan_rows']} row(s) without an episode")
    if report["orphan_files"]:
        parts.append(f"{len(report['orphan_files'])} orphan file(s) or folder(s)")
    if report["finished_deletes"]:
        parts.append(f"{len(report['finished_deletes'])} interrupted delete(s) finished")
    return "optimize: " + ", ".join(parts)


def optimize_library(store, keep_versions: int | None = None) -> dict:
    """Sweep, compact and prune; returns {bytes_before, bytes_after, old_versions, orphan_rows, orphan_files,
    finished_deletes} (sizes only for a local library)."""
    from rag.purge import finish_pending

    before = dir_size(store.settings)
    finished = finish_pending(store)
    orphan_files = sweep_files(store)
    stats = store.optimize(keep_versions=keep_versions)
    return {"bytes_before": before, "bytes_after": dir_size(store.settings), "old_versions": stats["old_versions"],
            "orphan_rows": stats["orphan_rows"], "orphan_files": orphan_files, "finished_deletes": finished}


def compact(store, keep_versions: int | None = None) -> dict[str, int]:
    """Compact small writes, fold new rows into the indexes, drop rows left by an interrupted delete, and
    prune each table's versions beyond the last `keep_versions` (default: settings.keep_versions), with
    their files. Deleted rows are rewritten out of the data files (any fraction of a fragment), so once
    the old versions are pruned, a deleted episode's text is in no file.

    Runs holding the library lock alone: no other process is mid-write while rows without an episode are
    swept and files of unfinished (killed) transactions are deleted. Returns what it removed."""
    from rag.locks import library_lock

    keep = store.settings.keep_versions if keep_versions is None else keep_versions
    stats = {"orphan_rows": 0, "old_versions": 0, "bytes_removed": 0}
    with library_lock(store.settings, shared=False):
        stats["orphan_rows"] = _drop_orphan_rows(store)
        _index(store)
        for name in [n for n in store._table_names() if store._has(n)]:  # one being created elsewhere: next time
            versions, freed = _compact_and_prune(store, name, max(1, keep))
            stats["old_versions"] += versions
            stats["bytes_removed"] += freed
    return stats


def _drop_orphan_rows(store) -> int:
    from rag.tables import EPISODES, PENDING, _in

    known = [r["id"] for r in store._table(EPISODES).search().select(["id"]).limit(None).to_list()]
    orphans = f"NOT ({_in('episode_id', known)})" if known else "true"
    removed = 0
    for name in store._table_names():  # segments, chunks, and any other table of per-episode rows (edits)
        if name in (EPISODES, PENDING) or not store._has(name) or "episode_id" not in store._table(name).schema.names:
            continue
        table = store._table(name)
        n = table.count_rows(orphans)
        if n:
            table.delete(orphans)
            removed += n
    return removed


def _index(store) -> None:
    from lancedb.index import BTree

    from rag.tables import CHUNKS, SEGMENTS, VECTOR_INDEX_MIN_ROWS

    for name in (SEGMENTS, CHUNKS):
        if name == CHUNKS and store._chunks() is None:
            continue
        table = store._table(name)
        if table.count_rows() and not any(ix.columns == ["episode_id"] for ix in table.list_indices()):
            table.create_index("episode_id", config=BTree(), replace=True)
    chunks = store._chunks()
    if chunks is not None:
        store._ensure_fts(chunks)
        has_vector_index = any(ix.columns == ["vector"] for ix in chunks.list_indices())
        if not has_vector_index and chunks.count_rows() >= VECTOR_INDEX_MIN_ROWS:
            chunks.create_index(metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ")


def _compact_and_prune(store, name: str, keep: int) -> tuple[int, int]:
    """(versions removed, bytes removed) for one table. LanceDB's optimize compacts and updates indexes;
    Lance itself (pylance) rewrites every fragment with a deleted row and prunes by version count."""
    from rag.tables import LOCKED_TABLES

    table = store._table(name)
    table.optimize()
    ds = table.to_lance()
    ds.optimize.compact_files(materialize_deletions_threshold=0.0)
    # Files no version references are left by killed writers; with the lock held alone they are ours to
    # delete, in the tables whose writers all take it (Store's own writes). Other tables (chats, edits) and
    # object storage, where there is no lock, keep Lance's own 7-day rule for them.
    unverified = name in LOCKED_TABLES and not store.settings.is_remote_store
    cleaned = ds.cleanup_old_versions(retain_versions=keep, delete_unverified=unverified)
    table.checkout_latest()
    return int(cleaned.old_versions), int(cleaned.bytes_removed)


def sweep_files(store) -> list[str]:
    """Delete files of episodes that are not in the library (and stale upload caches); returns their paths.
    An episode another process is working on right now (its lock is held) is left alone."""
    from rag.locks import episode_busy
    from rag.purge import export_dirs, upload_caches

    settings = store.settings
    if settings.is_remote_store:
        return []
    known = {e.id for e in store.list_episodes(include_incomplete=True)}
    data = Path(settings.data_dir).expanduser()
    removed: list[str] = []
    audio = data / "audio"
    for f in sorted(audio.iterdir()) if audio.is_dir() else []:
        episode_id = f.name.split(".", 1)[0]
        if f.is_file() and episode_id not in known and not episode_busy(settings, episode_id):
            f.unlink(missing_ok=True)
            removed.append(str(f))
    exports = export_dirs(settings, "x")[0].parent
    for folder in sorted(exports.iterdir()) if exports.is_dir() else []:
        looks_like_episode = re.fullmatch(r"[0-9a-f]{16}", folder.name) is not None  # not e.g. exports/bench
        if folder.is_dir() and looks_like_episode and not any(e.startswith(folder.name) for e in known):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    cutoff = time.time() - STALE_CACHE_S
    for cache in upload_caches(settings):
        for entry in sorted(cache.iterdir()) if cache.is_dir() else []:
            if entry.is_dir() and not entry.is_symlink() and _newest(entry) < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(str(entry))
    return removed


def _newest(folder: Path) -> float:
    return max((p.stat().st_mtime for p in [folder, *folder.rglob("*")] if not p.is_symlink()), default=0.0)


def dir_size(settings) -> int:
    """Bytes under a local data dir (0 for object storage)."""
    if settings.is_remote_store:
        return 0
    root = Path(settings.data_dir).expanduser()
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()) if root.is_dir() else 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
