"""Locks between the processes that share one local library: `flock` on files in `<data dir>/.locks/`.

- `episode_lock(settings, id)`: one process at a time works on an episode. Two overlapping ingests transcribe
  each file once: the second waits, then finds the episode ready ("unchanged"). Optimize skips an episode whose
  lock is held (its audio copy may be written before its episode row).
- `library_lock(settings, shared=True)`: every writer holds it shared while it changes rows; `optimize` holds it
  exclusive while it sweeps rows without an episode and deletes files of unfinished transactions, so it never
  sees an episode half written by another process.

`flock` locks belong to an open file and vanish with the process, so a `kill -9` never leaves a stale lock.
(filelock has no shared mode; its read-write lock needs SQLite.) A library on object storage has no local
folder to lock in: both are no-ops there, and docs/reliability.md says what that costs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path
from typing import Iterator

_held = threading.local()  # library lock depth per thread, so a writer calling a writer does not relock


def _lock_file(settings, name: str) -> Path | None:
    if settings.is_remote_store:
        return None
    folder = Path(settings.data_dir).expanduser() / ".locks"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder / name


@contextlib.contextmanager
def _flock(path: Path | None, mode: int) -> Iterator[bool]:
    """Hold `flock(mode)` on `path` (yields False when LOCK_NB was asked and the lock is taken)."""
    if path is None:
        yield True
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def episode_lock(settings, episode_id: str, wait: bool = True) -> Iterator[bool]:
    """Claim one episode; yields whether it was claimed (always True when `wait`)."""
    mode = fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB)
    with _flock(_lock_file(settings, f"episode-{episode_id}.lock"), mode) as got:
        yield got


def episode_busy(settings, episode_id: str) -> bool:
    """Is another process working on this episode right now?"""
    with episode_lock(settings, episode_id, wait=False) as got:
        return not got


@contextlib.contextmanager
def library_lock(settings, shared: bool = True) -> Iterator[None]:
    """Writers share it; optimize's sweep holds it alone. Re-entrant within a thread (the outer hold counts)."""
    with _reentrant(_lock_file(settings, "library.lock"), fcntl.LOCK_SH if shared else fcntl.LOCK_EX):
        yield


@contextlib.contextmanager
def schema_lock(settings) -> Iterator[None]:
    """Held while tables are created or migrated, so two processes opening a new library do not race."""
    with _reentrant(_lock_file(settings, "schema.lock"), fcntl.LOCK_EX):
        yield


@contextlib.contextmanager
def _reentrant(path: Path | None, mode: int) -> Iterator[None]:
    """flock that a thread may take again while it holds it (a second fd would wait for the first forever)."""
    depth = getattr(_held, "depth", None)
    if depth is None:
        depth = _held.depth = {}
    if depth.get(path):
        depth[path] += 1
        try:
            yield
        finally:
            depth[path] -= 1
        return
    with _flock(path, mode):
        depth[path] = 1
        try:
            yield
        finally:
            depth[path] = 0


def retry_conflicts(fn, *args, tries: int = 4):
    """`fn(*args)`, redone when Lance reports a retryable commit conflict (another process committed to the same
    table at the same moment; Lance resolves compatible commits itself, not every pair). For idempotent writes."""
    import time

    for attempt in range(tries):
        try:
            return fn(*args)
        except RuntimeError as exc:
            if "Retryable commit conflict" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise ValueError("tries must be at least 1")
