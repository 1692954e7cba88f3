"""Files that live beside the tables in the data dir (audio copies, bench CSVs), local or on object storage.

Locations are strings: a local path, or an `s3://…` URI when the data dir is one (issue: beyond one machine).
"""

from __future__ import annotations

import shutil
from pathlib import Path


def _is_remote(location: str) -> bool:
    return "://" in location


def put_file(src: Path, relative: str, settings) -> str:
    """Copy `src` to `<data dir>/<relative>` (skipped when an identical-size file is already there)."""
    target = settings.data_path(*relative.split("/"))
    if _is_remote(target):
        fs, path = _fs(target, settings)
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        info = fs.get_file_info(path)
        if info.size != src.stat().st_size:
            with open(src, "rb") as fin, fs.open_output_stream(path) as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        return target
    dst = Path(target)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists() or dst.stat().st_size != src.stat().st_size:
        tmp = dst.with_name(dst.name + ".partial")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    return str(dst)


def delete_file(location: str | None, settings) -> None:
    if not location:
        return
    if _is_remote(location):
        fs, path = _fs(location, settings)
        try:
            fs.delete_file(path)
        except OSError:
            pass
        return
    Path(location).unlink(missing_ok=True)


def local_copy(location: str, settings) -> Path:
    """A local path for playback: the file itself, or a cached download of a remote one."""
    if not _is_remote(location):
        return Path(location)
    import tempfile

    fs, path = _fs(location, settings)
    cache = Path(tempfile.gettempdir()) / "audiorag-audio" / path.replace("/", "_")
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        with fs.open_input_stream(path) as fin, open(cache, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    return cache


def _fs(uri: str, settings):
    """A pyarrow filesystem for an object-store URI, configured from settings.storage_options only."""
    from pyarrow import fs as pafs

    scheme, rest = uri.split("://", 1)
    opts = settings.storage_options or {}
    if scheme == "s3":
        endpoint = opts.get("aws_endpoint") or opts.get("endpoint")
        kwargs = dict(
            access_key=opts.get("aws_access_key_id"),
            secret_key=opts.get("aws_secret_access_key"),
            region=opts.get("aws_region", "us-east-1"),
        )
        if endpoint:
            scheme_, host = endpoint.split("://", 1) if "://" in endpoint else ("https", endpoint)
            kwargs.update(endpoint_override=host, scheme=scheme_, force_virtual_addressing=False)
        return pafs.S3FileSystem(**{k: v for k, v in kwargs.items() if v is not None}), rest
    filesystem, path = pafs.FileSystem.from_uri(uri)
    return filesystem, path
