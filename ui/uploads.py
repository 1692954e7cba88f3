"""Uploaded files are copied into the library folder before ingest, under names we choose.

Why: a browser-supplied name is untrusted (path separators, `..`, control characters, 300-byte names), and Gradio's
own upload cache is outside the library. Each upload lands in `<data dir>/uploads/<hash>/<sanitised name>`, where
the hash is over the bytes of the files that share a stem, so a transcript and its audio uploaded together
(`talk.srt` + `talk.mp3`) stay side by side and are paired by the ingest pipeline exactly as on disk, and two
different files with the same name never collide. The staging folder is removed after ingest: the library keeps
its own hash-named audio copy and the rows.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import unicodedata
from pathlib import Path

from rag.errors import AudioragError

MAX_NAME = 120


class UploadError(AudioragError, RuntimeError):
    """An upload refused before ingest (too large, not a file); one line for the user."""


def safe_name(name: str) -> str:
    """A file name that is safe on any file system and cannot leave its folder; keeps letters of any script."""
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")  # control and format characters
    name = re.sub(r"[^\w\-. ()+,]", "_", name)
    name = re.sub(r"\s+", " ", name).strip(" ").rstrip(".")
    name = re.sub(r"\.{2,}", ".", name)
    if not name or name.startswith("."):  # no hidden files; ".wav" keeps its extension
        name = "upload" + name
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot else ""
        name = (stem if dot else name)[: MAX_NAME - len(ext) - 1].rstrip(" .") + (f".{ext}" if ext else "")
    return name


def staging_root(settings) -> Path:
    """`<data dir>/uploads` for a local library; this process's private temp folder when the library is on object
    storage (rag.private)."""
    from rag.private import private_dir

    return private_dir(settings, "uploads")


def _hash_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda p: p.name):
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def stage_uploads(paths: list[str | Path], settings, original_names: list[str] | None = None) -> list[tuple[str, Path]]:
    """Copy uploads into the library's staging folder. Returns (name as uploaded, staged path) in input order.

    `original_names` are the names the user's files had (Gradio keeps them as the temp file's name)."""
    limit = settings.max_upload_mb * 1024 * 1024
    files = [Path(p) for p in paths]
    names = original_names or [p.name for p in files]
    for f, n in zip(files, names):
        if not f.is_file():
            raise UploadError(f"{n}: not a file")
        if f.stat().st_size > limit:
            raise UploadError(f"{n}: larger than the upload limit of {settings.max_upload_mb} MB")
    # Group by sanitised stem so companions (transcript + audio) share a folder.
    safe = [safe_name(n) for n in names]
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(safe):
        groups.setdefault(Path(s).stem.lower(), []).append(i)
    root = staging_root(settings)
    out: list[tuple[str, Path] | None] = [None] * len(files)
    for idxs in groups.values():
        # Two uploads with the same sanitised name in one group would overwrite each other: number them.
        seen: dict[str, int] = {}
        targets = []
        for i in idxs:
            n = safe[i]
            if n.lower() in seen:
                seen[n.lower()] += 1
                stem, ext = Path(n).stem, Path(n).suffix
                n = f"{stem} ({seen[n.lower()]}){ext}"
            else:
                seen[n.lower()] = 0
            targets.append(n)
        folder = root / _hash_files([files[i] for i in idxs])
        folder.mkdir(parents=True, exist_ok=True)
        for i, n in zip(idxs, targets):
            dst = folder / n
            assert dst.resolve().parent == folder.resolve()  # safe_name guarantees it; never write elsewhere
            if not dst.exists() or dst.stat().st_size != files[i].stat().st_size:
                tmp = dst.with_name(dst.name + ".partial")
                shutil.copyfile(files[i], tmp)
                tmp.replace(dst)
            out[i] = (names[i], dst)
    return [o for o in out if o is not None]


def cleanup(staged: list[Path], settings) -> None:
    """Remove staging folders once their files are ingested (or failed): the library keeps its own copies."""
    root = staging_root(settings).resolve()
    for folder in {p.parent for p in staged}:
        try:
            if folder.resolve().parent == root:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass
