"""Files that live beside the tables in the data dir (audio copies, bench CSVs), local or on object storage, and
the object-store options LanceDB and those files share.

Locations are strings: a local path, or an `s3://…` (`gs://…`, `az://…`) URI when the data dir is one.
Credentials come only from `settings.storage_options` (LanceDB's option names) or the standard AWS_* env
variables. When an endpoint is configured (MinIO, SeaweedFS, moto, …) explicit keys are required and
AWS_EC2_METADATA_DISABLED=true is set in this process, so no AWS SDK in it ever asks a cloud metadata service
(169.254.169.254) for credentials or a region.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# LanceDB option ← standard env variable, filled in when the option is not set (s3:// only).
_AWS_ENV = {
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "aws_session_token": ("AWS_SESSION_TOKEN",),
    "aws_region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "aws_endpoint": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"),
}
_ALIASES = {"endpoint": "aws_endpoint", "aws_endpoint_url": "aws_endpoint", "endpoint_url": "aws_endpoint",
            "region": "aws_region", "access_key_id": "aws_access_key_id",
            "secret_access_key": "aws_secret_access_key", "session_token": "aws_session_token"}


def _is_remote(location: str) -> bool:
    return "://" in location


def _text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def storage_options(settings) -> dict[str, str] | None:
    """The options to open the data dir with (None for a local one), as LanceDB wants them: all strings.

    For s3:// URIs: AWS_* env variables fill options that are not set; with an endpoint, the region defaults to
    us-east-1, `allow_http` follows the endpoint's scheme, explicit keys are required, and
    AWS_EC2_METADATA_DISABLED=true is set in this process."""
    from rag.errors import StoreError

    if not settings.is_remote_store:
        return None
    opts = {k.lower(): _text(v) for k, v in (settings.storage_options or {}).items()}
    if settings.data_dir.split("://", 1)[0].lower() not in ("s3", "s3a"):
        return opts or None
    opts = {_ALIASES.get(k, k): v for k, v in opts.items()}
    for key, names in _AWS_ENV.items():
        if not opts.get(key):
            value = next((os.environ[n] for n in names if os.environ.get(n)), None)
            if value:
                opts[key] = value
    endpoint = opts.get("aws_endpoint")
    if endpoint:
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        opts.setdefault("aws_region", "us-east-1")
        if endpoint.startswith("http://"):
            opts.setdefault("allow_http", "true")
        anonymous = opts.get("aws_skip_signature", "").lower() == "true"
        if not anonymous and not (opts.get("aws_access_key_id") and opts.get("aws_secret_access_key")):
            raise StoreError(
                f"the data dir {settings.data_dir} is on the object store at {endpoint}, but no credentials are "
                "set: put aws_access_key_id and aws_secret_access_key in storage_options (or set "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); with an endpoint the AWS credential chain is not used"
            )
    return opts


def put_file(src: Path, relative: str, settings) -> str:
    """Copy `src` to `<data dir>/<relative>` (skipped when an identical-size file is already there)."""
    target = settings.data_path(*relative.split("/"))
    if _is_remote(target):
        from pyarrow import fs as pafs

        fs, path = _fs(target, settings)
        if not target.startswith(("s3://", "s3a://", "gs://")):  # object stores have no folders to make
            fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound or info.size != src.stat().st_size:
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
        except OSError:  # already gone
            pass
        return
    Path(location).unlink(missing_ok=True)


def local_copy(location: str, settings) -> Path:
    """A local path for playback: the file itself, or a cached download of a remote one (audio copies are
    named by the hash of their bytes, so a cached copy never goes stale)."""
    if not _is_remote(location):
        return Path(location)
    from rag.private import private_dir

    fs, path = _fs(location, settings)
    cache = private_dir(settings, "audio-cache") / path.replace("/", "_")
    if not cache.exists():
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.partial")
        with fs.open_input_stream(path) as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        tmp.replace(cache)
    return cache


def _fs(uri: str, settings):
    """A pyarrow filesystem for an object-store URI and the path inside it, configured from the same options
    as LanceDB (see storage_options)."""
    from pyarrow import fs as pafs

    scheme, rest = uri.split("://", 1)
    opts = storage_options(settings) or {}
    endpoint = opts.get("aws_endpoint") or opts.get("google_endpoint") or opts.get("azure_endpoint")
    ep_scheme, ep_host = (endpoint.split("://", 1) if "://" in endpoint else ("https", endpoint)) if endpoint else (None, None)
    if scheme in ("s3", "s3a"):
        kwargs = dict(access_key=opts.get("aws_access_key_id"), secret_key=opts.get("aws_secret_access_key"),
                      session_token=opts.get("aws_session_token"), region=opts.get("aws_region"))
        if opts.get("aws_skip_signature", "").lower() == "true":
            kwargs = dict(anonymous=True, region=opts.get("aws_region"))
        if endpoint:
            kwargs.update(endpoint_override=ep_host, scheme=ep_scheme)
        return pafs.S3FileSystem(**{k: v for k, v in kwargs.items() if v is not None}), rest
    if scheme in ("gs", "gcs") and endpoint:  # an emulator: never the default credential chain
        return pafs.GcsFileSystem(endpoint_override=ep_host, scheme=ep_scheme, anonymous=True), rest
    if scheme in ("az", "abfs", "abfss") and hasattr(pafs, "AzureFileSystem"):
        account = opts.get("azure_storage_account_name")
        kwargs = dict(account_name=account, account_key=opts.get("azure_storage_account_key"))
        if endpoint:
            kwargs.update(blob_storage_authority=ep_host, blob_storage_scheme=ep_scheme)
        return pafs.AzureFileSystem(**{k: v for k, v in kwargs.items() if v is not None}), rest
    filesystem, path = pafs.FileSystem.from_uri(uri)
    return filesystem, path
