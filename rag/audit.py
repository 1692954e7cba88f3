"""The audit log: one JSON line per remote call and per deletion, in `<data dir>/audit.jsonl` (0600).

A line says when, what, for which role, which host, how many bytes went out and came back, and how it ended —
never the content (no prompt, audio, transcript, answer or title; an episode is named by its id, a hash).

Every OpenAI-compatible client of this project (the LLM, the transcription server, Voxtral, doctor's checks) is
made by `openai_client()` / `http_client()` here, whose transport writes the line when a response's body has been
read (or the request failed), so streamed answers are counted in full. Each retry is its own line.

A library on object storage has no local folder: its log is `<user state dir>/audiorag/audit.jsonl`.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator


FILE = "audit.jsonl"
MAX_BYTES = 16 << 20  # then it is rotated once (audit.jsonl.1)
LINE_BYTES = 1024  # generous: a line is ~250 bytes
_lock = threading.Lock()


def audit_path(settings) -> Path:
    if settings.is_remote_store:
        from platformdirs import user_state_dir

        from rag.private import make_private

        return make_private(Path(user_state_dir("audiorag"))) / FILE
    from rag.private import data_root

    return data_root(settings) / FILE


def record(settings, what: str, **fields: Any) -> dict:
    """Append one event (`what`: "remote call", "delete", "gc audio", …) with the time; returns it.
    A log past MAX_BYTES becomes `audit.jsonl.1` (the one before that is dropped) and a new one starts."""
    event = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "what": what, **fields}
    line = json.dumps(event, ensure_ascii=False, default=str) + "\n"
    path = audit_path(settings)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
    with _lock:
        try:
            if path.stat().st_size >= MAX_BYTES:
                os.replace(path, _older(path))
        except FileNotFoundError:
            pass
        fd = os.open(path, flags, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
    return event


def _older(path: Path) -> Path:
    return path.with_name(path.name + ".1")


def read(settings, limit: int | None = None) -> list[dict]:
    """The events, newest first (`limit` of them: only the end of the log is read); a line that is not JSON
    (a write cut short) is skipped."""
    path = audit_path(settings)
    events: list[dict] = []
    for f in (path, _older(path)):
        if limit and len(events) >= limit:
            break
        events += _tail(f, limit - len(events) if limit else None)
    return events[:limit] if limit else events


def _tail(path: Path, limit: int | None) -> list[dict]:
    """The last `limit` events of one file, newest first."""
    if not path.exists():
        return []
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - limit * LINE_BYTES) if limit else 0
        f.seek(start)
        data = f.read()
    lines = data.decode("utf-8", errors="replace").splitlines()
    if start > 0:
        lines = lines[1:]  # the first one may be cut
    out = []
    for line in reversed(lines):
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
        if limit and len(out) >= limit:
            break
    if limit and len(out) < limit and start > 0:  # lines longer than we guessed: read it all
        return _tail(path, None)[:limit]
    return out


def host_of(url: str) -> str:
    """`host:port` of a URL, without any user name or password in it."""
    from urllib.parse import urlparse

    u = urlparse(url if "://" in url else f"//{url}")
    host = u.hostname or url
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{host}:{u.port}" if u.port else host


# -- the transport every remote client goes through --------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _transport_class(http):
    """The audit transport for an httpx-style module `http` (httpx itself, or the fork the openai SDK uses)."""

    class Counted(http.SyncByteStream):
        def __init__(self, inner, done):
            self.inner, self.done, self.received = inner, done, 0

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self.inner:
                self.received += len(chunk)
                yield chunk

        def close(self) -> None:
            try:
                if hasattr(self.inner, "close"):
                    self.inner.close()
            finally:
                done, self.done = self.done, None
                if done is not None:
                    done(self.received)

    class AuditTransport(http.BaseTransport):
        """The module's own transport, writing an audit line for every request it sends."""

        def __init__(self, settings, role: str, inner=None):
            self.settings, self.role = settings, role
            self.inner = inner or http.HTTPTransport()

        def handle_request(self, request):
            base = {"role": self.role, "host": host_of(str(request.url)), "method": request.method,
                    "path": request.url.path, "sent": _body_size(request)}
            try:
                response = self.inner.handle_request(request)
            except Exception as exc:
                _write(self.settings, {**base, "received": 0, "status": f"failed ({type(exc).__name__})"})
                raise

            def done(received: int) -> None:
                _write(self.settings, {**base, "received": received, "status": response.status_code})

            response.stream = Counted(response.stream, done)
            return response

        def close(self) -> None:
            self.inner.close()

    return AuditTransport


def _write(settings, fields: dict) -> None:
    try:
        record(settings, "remote call", **fields)
    except OSError:  # the log must never stop the work it records
        pass


def _body_size(request) -> int:
    length = request.headers.get("content-length")
    if length and length.isdigit():
        return int(length)
    try:
        return len(request.read())
    except Exception:  # noqa: BLE001 — a stream that cannot be measured
        return 0


def http_client(settings, role: str, **kwargs):
    """An httpx client whose every request is in the audit log."""
    import httpx

    return httpx.Client(transport=_transport_class(httpx)(settings, role), **kwargs)


def openai_client(settings, role: str, base_url: str, api_key: str | None = None, **kwargs):
    """`openai.OpenAI(...)` for a server, its requests in the audit log under `role`."""
    import importlib

    import openai

    http = next(importlib.import_module(c.__module__.split(".")[0]) for c in openai.DefaultHttpxClient.__mro__
                if not c.__module__.startswith("openai"))  # httpx, or the fork newer SDKs use
    inner = http.HTTPTransport(limits=openai.DEFAULT_CONNECTION_LIMITS)
    client = openai.DefaultHttpxClient(transport=_transport_class(http)(settings, role, inner))
    return openai.OpenAI(base_url=base_url, api_key=api_key or "not-needed", http_client=client, **kwargs)
