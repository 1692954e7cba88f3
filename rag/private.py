"""Private folders: the one home for where our own files (exports, staged uploads, cached audio, bench CSVs) go.

A local library keeps them inside its data dir, which is created 0700. A library on object storage has no local
folder, so they go to one private directory per process (`mkdtemp`, 0700) that is removed when the process
exits. Never a fixed shared path such as `$TMPDIR/audiorag-exports`: any local user could plant a symlink there
before we first write, and the web app would then serve whatever it points at.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path

from rag.errors import AudioragError

_run_dir: Path | None = None
_lock = threading.Lock()


class UnsafePathError(AudioragError, OSError):
    """A folder we are about to write into is a symlink or is not ours."""


def make_private(path: Path) -> Path:
    """Create `path` (and missing parents) as 0700 folders; refuse a symlink anywhere we create or enter.

    An existing folder is used as it is, unless it is a symlink: then nothing is written through it."""
    path = Path(path).expanduser()
    missing: list[Path] = []
    p = path
    while not p.exists() and not p.is_symlink():
        missing.append(p)
        p = p.parent
    for q in reversed(missing):
        try:
            q.mkdir(mode=0o700)
        except FileExistsError:
            pass
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"Refusing to write into {path}: it is a link or not a folder")
    return path


def run_dir() -> Path:
    """This process's private temp folder (0700), removed at exit."""
    global _run_dir
    with _lock:
        if _run_dir is None or not _run_dir.is_dir():
            _run_dir = Path(tempfile.mkdtemp(prefix="audiorag-"))
            atexit.register(shutil.rmtree, _run_dir, ignore_errors=True)
        return _run_dir


def data_root(settings) -> Path:
    """The local data dir, created 0700 the first time."""
    return make_private(Path(settings.data_dir).expanduser())


def private_dir(settings, *parts: str) -> Path:
    """`<data dir>/<parts…>` for a local library, `<run dir>/<parts…>` for one on object storage; 0700, no links."""
    base = run_dir() if settings.is_remote_store else data_root(settings)
    path = base.joinpath(*parts)
    make_private(path)
    # Every component between base and path: none may be a link (make_private checked only the last one).
    p = path
    while p != base:
        if p.is_symlink():
            raise UnsafePathError(f"Refusing to write into {path}: {p} is a link")
        p = p.parent
    return path


def write_private(folder: Path, name: str, text: str) -> Path:
    """Write `text` to folder/name as a 0600 file, never through a symlink planted at that name."""
    path = folder / name
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path
