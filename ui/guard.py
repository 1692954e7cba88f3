"""The web server trusts only its own origin.

The threat: a page in the user's own browser. Listening on 127.0.0.1 does not stop it — with DNS rebinding a page
on `evil.example` re-resolves its own name to 127.0.0.1 and its scripts then talk to our server as "same origin",
reading and deleting the library. What gives it away is the `Host` header (`evil.example:7860`), and for a plain
cross-site request the `Origin` header. So every request — page, API, files, websockets — must name one of the
addresses we serve in `Host`, and, when it carries an `Origin`, come from one of them too. Gradio's own CORS
middleware then only ever sees our own origin.

Beyond loopback the host names a user types are not knowable in advance (LAN addresses, mDNS names): there the
server requires a login (`--auth`, or a per-install token, see ui.serve) and checks that `Origin` matches `Host`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def hostname(value: str) -> str:
    """`example.org:7860` / `[::1]:7860` / `http://[::1]:7860` → `example.org` / `::1` (lower case)."""
    value = value.strip()
    if "://" not in value:
        value = "//" + value
    try:
        return (urlsplit(value).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def allowed_hosts(bind: str, extra: list[str] | tuple[str, ...] = ()) -> set[str] | None:
    """The host names a request may carry; None when any is accepted (listening on every interface, where a
    login guards the app and Origin must match Host)."""
    if bind in WILDCARDS and not extra:
        return None
    names = set(LOOPBACK) | {hostname(h) for h in extra}
    if bind not in WILDCARDS:
        names.add(hostname(bind))
    return names


class HostGuard:
    """ASGI middleware: 403 for a request whose Host or Origin is not ours."""

    def __init__(self, app, hosts: set[str] | None = None) -> None:
        self.app = app
        self.hosts = hosts

    def _refusal(self, headers: dict[bytes, bytes]) -> str | None:
        host = hostname(headers.get(b"host", b"").decode("latin-1"))
        if self.hosts is not None and host not in self.hosts:
            return "Refused: this server answers only requests addressed to " + ", ".join(sorted(self.hosts))
        origin = headers.get(b"origin")
        if origin is not None:
            origin_host = hostname(origin.decode("latin-1"))
            ok = origin_host in self.hosts if self.hosts is not None else origin_host == host
            if not ok or not origin_host:
                return "Refused: cross-site request"
        return None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        refusal = self._refusal(dict(scope.get("headers") or []))
        if refusal is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = refusal.encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def is_loopback(bind: str) -> bool:
    return hostname(bind) in LOOPBACK


def install_token() -> str:
    """A random per-install password (0600 file in the user's config dir), made on first use."""
    import os
    import secrets
    from pathlib import Path

    from platformdirs import user_config_dir

    from rag.private import make_private

    path = make_private(Path(user_config_dir("audiorag"))) / "serve-token"
    if path.is_file() and not path.is_symlink():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 16:
            return token
    token = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


def login_for(bind: str, auth: tuple[str, str] | None) -> tuple[tuple[str, str] | None, bool]:
    """The login the server requires: the given one; beyond loopback without one, user `audiorag` with the
    per-install token. Returns (auth, whether the token was made up here)."""
    if auth is not None or is_loopback(bind):
        return auth, False
    return ("audiorag", install_token()), True
