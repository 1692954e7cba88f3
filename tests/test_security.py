"""The server trusts only its own origin, and our files stay private (issue: reliability and security).

Against the real `audiorag serve` started with no options: a DNS-rebinding page (Host: evil.example, a matching
Origin) is refused on page, API and file routes; a symlink planted at the old shared export path exposes nothing;
exports live in the library, 0600 in 0700 folders."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import ASR_DIR, audiorag_cmd, free_port, stop_process
from tests.test_serve import wait_listening
from ui.guard import HostGuard, allowed_hosts, hostname, login_for

ROOT = Path(__file__).resolve().parent.parent
JFK = ASR_DIR / "wav16k" / "whisper_jfk.wav"


def test_hostname_and_allowed_hosts():
    assert hostname("evil.example:7902") == "evil.example"
    assert hostname("http://evil.example:7902") == "evil.example"
    assert hostname("[::1]:7860") == "::1"
    assert hostname("LOCALHOST.") == "localhost"
    assert hostname("") == ""
    assert allowed_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "::1"}
    assert "192.168.1.5" in allowed_hosts("192.168.1.5")
    assert allowed_hosts("0.0.0.0") is None  # any Host, but then a login is required and Origin must match Host
    assert "proxy.lan" in allowed_hosts("0.0.0.0", ["proxy.lan"])


def test_login_required_beyond_loopback(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert login_for("127.0.0.1", None) == (None, False)
    assert login_for("0.0.0.0", ("a", "b")) == (("a", "b"), False)
    (user, token), made = login_for("0.0.0.0", None)
    assert made and user == "audiorag" and len(token) >= 16
    assert login_for("192.168.1.5", None)[0] == (user, token)  # per install: the same token next time
    files = list((tmp_path / "config").rglob("serve-token"))
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_guard_refuses_foreign_origin_when_any_host_is_accepted():
    import asyncio

    sent: list[dict] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message):
        sent.append(message)

    guard = HostGuard(app, hosts=None)

    def status(headers):
        sent.clear()
        asyncio.run(guard({"type": "http", "headers": headers}, None, send))
        return sent[0]["status"]

    assert status([(b"host", b"10.0.0.2:7860")]) == 200
    assert status([(b"host", b"10.0.0.2:7860"), (b"origin", b"http://10.0.0.2:7860")]) == 200
    assert status([(b"host", b"10.0.0.2:7860"), (b"origin", b"http://evil.example")]) == 403
    assert status([(b"host", b"10.0.0.2:7860"), (b"origin", b"null")]) == 403


@pytest.fixture
def default_server(tmp_path, models_dir):
    """`audiorag serve` with no options over a library holding JFK, with its own TMPDIR where an attacker has
    planted `audiorag-exports -> /` before the server's first export."""
    if not JFK.exists():
        pytest.skip(f"shared recordings not found at {ASR_DIR}")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    (tmp / "audiorag-exports").symlink_to("/")
    (tmp / "audiorag-audio").symlink_to("/")
    env = dict(os.environ, AUDIORAG_DATA_DIR=str(tmp_path / "data"), AUDIORAG_CONFIG=str(tmp_path / "none.toml"),
               AUDIORAG_MODELS_DIR=str(models_dir), GRADIO_ANALYTICS_ENABLED="False", TMPDIR=str(tmp))
    env.pop("AUDIORAG_AUTH", None)
    subprocess.run([*audiorag_cmd(), "ingest", str(JFK)], cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    port = free_port()
    proc = subprocess.Popen([*audiorag_cmd(), "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, proc)
        yield port, tmp_path
    finally:
        stop_process(proc)


@pytest.mark.slow
def test_default_server_refuses_rebinding_and_serves_nothing_outside(default_server):
    from gradio_client import Client

    port, home = default_server
    base = f"http://127.0.0.1:{port}/"
    client = Client(base, verbose=False)
    episodes = client.predict(api_name="/list_episodes")
    assert len(episodes) == 1
    audio = next((home / "data").rglob("*.wav"), None) or next((home / "data" / "audio").iterdir())

    evil = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    with httpx.Client(timeout=30) as c:
        # Page, config, API info, a state-changing call, a file: all refused for a rebinding page.
        for method, path, body in (("GET", "", None), ("GET", "config", None), ("GET", "gradio_api/info", None),
                                   ("POST", "gradio_api/call/list_episodes", {"data": [True]}),
                                   ("POST", "gradio_api/call/delete_episode", {"data": [episodes[0]["id"]]}),
                                   ("GET", f"gradio_api/file={audio}", None)):
            for headers in (evil, {"Host": evil["Host"]}):
                r = c.request(method, base + path, headers=headers, json=body)
                assert r.status_code == 403, (method, path, headers, r.status_code, r.text[:200])
                assert r.text.startswith("Refused") and episodes[0]["id"] not in r.text
        # A cross-site request at our own address (a page on another site calling 127.0.0.1) too.
        r = c.post(base + "gradio_api/call/list_episodes", json={"data": [True]},
                   headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        # Our own origin works: the page and its files.
        assert c.get(base, headers={"Origin": f"http://127.0.0.1:{port}"}).status_code == 200
        assert c.get(f"http://localhost:{port}/config").status_code == 200
        assert c.get(base + f"gradio_api/file={audio}").status_code == 200

        # The planted symlinks at the old shared paths expose nothing.
        for path in ("/etc/passwd", f"{home}/tmp/audiorag-exports/etc/passwd",
                     f"{home}/tmp/audiorag-audio/etc/passwd"):
            r = c.get(base + f"gradio_api/file={path}")
            assert r.status_code in (403, 404), (path, r.status_code)
            assert "root:" not in r.text
    assert client.predict(api_name="/list_episodes") == episodes  # nothing was deleted


def test_exports_are_private_files_in_the_library(settings, tmp_path, monkeypatch):
    from rag.private import UnsafePathError, private_dir, write_private

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    (tmp_path / "audiorag-exports").symlink_to("/")
    folder = private_dir(settings, "exports", "abc")
    data = Path(settings.data_dir)
    assert folder == data / "exports" / "abc"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    path = write_private(folder, "t.srt", "1\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A link planted inside the library is refused, and so is one at the file's name.
    (data / "exports" / "evil").symlink_to("/")
    with pytest.raises(UnsafePathError):
        private_dir(settings, "exports", "evil")
    (folder / "x.txt").symlink_to(tmp_path / "target")
    with pytest.raises(OSError):
        write_private(folder, "x.txt", "no")
    assert not (tmp_path / "target").exists()


def test_remote_library_uses_a_private_run_dir(settings):
    from rag import private

    remote = settings.model_copy(update={"data_dir": "s3://bucket/lib"})
    folder = private.private_dir(remote, "exports", "abc")
    run = private.run_dir()
    assert folder.is_relative_to(run) and stat.S_IMODE(run.stat().st_mode) == 0o700
