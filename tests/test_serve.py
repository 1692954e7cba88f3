"""`audiorag serve` as a real process: a login is enforced on the page's data, the files and the API, and the
server listens on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import audiorag_cmd, free_port, stop_process
from ui.serve import parse_auth

ROOT = Path(__file__).resolve().parent.parent



def non_loopback_ipv4() -> str | None:
    """An address of this machine that is not loopback (None if it has none, e.g. in a network namespace)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: a UDP connect sends nothing, it only picks a route
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") else ip


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early with {proc.returncode}: {proc.stderr.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"serve did not listen on {port} within {timeout:.0f} s")


@pytest.fixture
def served(tmp_path, models_dir):
    """Start `audiorag serve --auth user:secret` on a free port with its own data dir; stop it afterwards."""
    port = free_port()
    env = dict(os.environ, AUDIORAG_DATA_DIR=str(tmp_path / "data"), AUDIORAG_CONFIG=str(tmp_path / "none.toml"),
               AUDIORAG_MODELS_DIR=str(models_dir), GRADIO_ANALYTICS_ENABLED="False")
    env.pop("AUDIORAG_AUTH", None)
    cmd = audiorag_cmd()
    proc = subprocess.Popen([*cmd, "serve", "--port", str(port), "--auth", "user:secret"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, proc)
        yield port, proc
    finally:
        stop_process(proc)


def test_parse_auth():
    assert parse_auth("ann:pa:ss") == ("ann", "pa:ss")
    assert parse_auth(None) is None
    for bad in ("nopassword", ":x", "x:"):
        with pytest.raises(ValueError):
            parse_auth(bad)


def test_serve_requires_login_and_binds_loopback(served):
    import httpx
    from gradio_client import Client

    port, _proc = served
    url = f"http://127.0.0.1:{port}/"

    # Without credentials: the app's config, API schema, files and queue are refused.
    for path in ("config", "gradio_api/info", f"gradio_api/file={ROOT / 'README.md'}"):
        r = httpx.get(url + path, timeout=30)
        assert r.status_code == 401, (path, r.status_code, r.text[:200])
    r = httpx.post(url + "gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "x"}, timeout=30)
    assert r.status_code == 401, r.text[:200]
    with pytest.raises(Exception, match="(?i)login|credentials|auth"):
        Client(url, verbose=False)

    # Wrong password: refused too.
    assert httpx.post(url + "login", data={"username": "user", "password": "wrong"}, timeout=30).status_code >= 400

    # With credentials: the page data and the API answer.
    with httpx.Client(timeout=30) as c:
        assert c.post(url + "login", data={"username": "user", "password": "secret"}).status_code == 200
        assert c.get(url + "config").status_code == 200
    client = Client(url, auth=("user", "secret"), verbose=False)
    assert client.predict(api_name="/list_episodes") == []

    # Default host is 127.0.0.1: another address of this machine gets no answer on that port.
    ip = non_loopback_ipv4()
    if ip is not None:
        with pytest.raises(OSError):
            socket.create_connection((ip, port), timeout=3).close()
