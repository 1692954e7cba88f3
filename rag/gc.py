"""Retention (`audiorag gc`, rag/cli/gc.py): delete the library's audio copies older than `retention.audio_days`.

An episode added more than that many days ago loses its audio copy (`<data>/audio/<id>.*`, or the object on
object storage) and the cached uploads of that audio (`<data>/uploads/`, `<data>/.gradio/`: files whose bytes
hash to the episode id); its row says it has no audio any more. Its transcript, chunks and vectors stay, so it is
still found, answered from and cited — without playback. Each removal is a line in the audit log (rag.audit).
Episodes still being processed are left alone. The web server applies it too, a minute after it starts and then
daily (`start_daily`, from ui.app.launch), when a retention is set.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

log = logging.getLogger(__name__)
DAY_S = 86400.0


@dataclass
class Removal:
    episode_id: str
    title: str
    added: str
    files: list[str] = field(default_factory=list)
    bytes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def collect_garbage(settings, store=None, *, audio_days: float | None = None, dry_run: bool = False,
                    now: datetime | None = None) -> list[Removal]:
    """Apply the audio retention (`audio_days`, default `settings.retention.audio_days`; None: nothing to do).
    Returns what was removed (with `dry_run`, what would be)."""
    days = settings.retention.audio_days if audio_days is None else audio_days
    if days is None:
        return []
    if store is None:
        from rag.store import Store

        store = Store(settings)
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=float(days))
    out = []
    due = [ep for ep in store.list_episodes(include_incomplete=True)
           if ep.status != "processing" and _aware(ep.created) <= cutoff]
    cached = upload_cache_audio(settings) if due else {}
    for ep in due:
        files = audio_files(settings, ep, cached)
        if not files and not ep.audio_path:
            continue
        removal = Removal(ep.id, ep.title, ep.created.isoformat(), [f for f, _ in files], sum(n for _, n in files))
        out.append(removal)
        if not dry_run:
            _remove(settings, store, ep.id, removal, days)
    return out


def start_daily(settings, get_store, interval_s: float = DAY_S, first_after_s: float = 60.0) -> threading.Event | None:
    """Apply the retention in a background thread, `first_after_s` from now and then every `interval_s`
    (nothing when no retention is set). Returns the event that stops it."""
    if settings.retention.audio_days is None:
        return None
    stop = threading.Event()

    def loop() -> None:
        wait = first_after_s
        while not stop.wait(wait):
            wait = interval_s
            try:
                removed = collect_garbage(settings, get_store())
            except Exception:  # noqa: BLE001 — tomorrow's run tries again; the log says why
                log.exception("the daily retention run failed")
                continue
            if removed:
                log.info("retention: removed the audio of %d episode(s), %.1f MB", len(removed),
                         sum(r.bytes for r in removed) / 1e6)

    threading.Thread(target=loop, name="daily gc", daemon=True).start()
    return stop


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _remove(settings, store, episode_id: str, removal: Removal, days: float) -> None:
    from rag.audit import record
    from rag.storage import delete_file

    for location in removal.files:
        delete_file(location, settings)
    store.set_episode_fields(episode_id, audio_path=None)
    record(settings, "gc audio", role="library", episode=episode_id, files_removed=len(removal.files),
           bytes_freed=removal.bytes, audio_days=days)


def audio_files(settings, ep, cached: dict[str, list[Path]] | None = None) -> list[tuple[str, int]]:
    """The episode's audio copies that exist: (location, size in bytes). `cached`: upload_cache_audio()."""
    found: dict[str, int] = {}
    if ep.audio_path:
        size = _size(ep.audio_path, settings)
        if size is not None:
            found[ep.audio_path] = size
    if settings.is_remote_store:
        return list(found.items())
    data = Path(settings.data_dir).expanduser()
    if cached is None:
        cached = upload_cache_audio(settings)
    for f in [*(data / "audio").glob(f"{ep.id}.*"), *cached.get(ep.id, [])]:
        if str(f) not in found and f.is_file() and not f.is_symlink():
            found[str(f)] = f.stat().st_size
    return list(found.items())


def upload_cache_audio(settings) -> dict[str, list[Path]]:
    """Audio files in the upload caches, by the hash of their bytes (= the id of the episode they made)."""
    from ingest.decode import DecodeError, content_hash, is_audio_path
    from rag.purge import upload_caches

    out: dict[str, list[Path]] = {}
    if settings.is_remote_store:
        return out
    for cache in upload_caches(settings):
        if not cache.is_dir():
            continue
        for f in cache.rglob("*"):
            if f.is_file() and not f.is_symlink() and is_audio_path(f):
                try:
                    out.setdefault(content_hash(f), []).append(f)
                except (OSError, DecodeError):
                    continue
    return out


def _size(location: str, settings) -> int | None:
    if "://" not in location:
        p = Path(location)
        return p.stat().st_size if p.is_file() else None
    from pyarrow import fs as pafs

    from rag.storage import _fs

    fs, path = _fs(location, settings)
    info = fs.get_file_info(path)
    return None if info.type == pafs.FileType.NotFound else int(info.size or 0)
