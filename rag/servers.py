"""The OpenAI-compatible servers this project talks to, started and checked on this machine (`audiorag servers`).

Each kind knows its command line, its port and its health check. A started server runs detached (its own
session, so it outlives the command that started it) on 127.0.0.1 unless a host is given; what it is (pid,
url, command) is kept in `<data dir>/servers/<name>.json`, what it prints in `<name>.log` beside it (0600, in the
private data dir). `status` says per kind whether it runs and answers; `stop` ends it (SIGTERM, then SIGKILL).

Kinds: `mlx-lm` (mlx_lm.server on llm.model's pack), `faster-whisper` (faster-whisper-server on asr.model's
CTranslate2 folder), `vllm` (`vllm serve` with Mistral's flags for Voxtral and Whisper; only where vLLM is
installed, which it cannot be on these CPU machines).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from rag.errors import AudioragError

KINDS = ("mlx-lm", "faster-whisper", "vllm")
DEFAULT_PORTS = {"mlx-lm": 8080, "faster-whisper": 8000, "vllm": 8001}
Progress = Callable[[str], None]


class ServerError(AudioragError):
    """A server that cannot be started, found or stopped; the message is one actionable line."""


@dataclass
class ServerInfo:
    name: str
    pid: int | None = None
    url: str | None = None
    model: str | None = None
    command: list[str] = field(default_factory=list)
    log: str | None = None
    started: float | None = None
    running: bool = False
    healthy: bool = False
    latency_ms: float | None = None
    settings: dict = field(default_factory=dict)  # what to put in audiorag.toml (as environment variables)

    def to_dict(self) -> dict:
        return asdict(self)


def _dir(settings) -> Path:
    from rag.private import data_root, make_private

    return make_private(data_root(settings) / "servers")


def _check_kind(name: str) -> None:
    if name not in KINDS:
        raise ServerError(f"unknown server '{name}': use one of {', '.join(KINDS)}")


def command_for(name: str, settings, host: str, port: int, model: str | None = None) -> tuple[list[str], str, dict]:
    """(command line, the model it serves, the settings that point this app at it) for a kind."""
    from rag.models.resolve import resolve_model

    url = f"http://{host}:{port}/v1"
    if name == "mlx-lm":
        spec = model or settings.llm.model
        folder = resolve_model(spec, "llm", settings)
        cmd = [sys.executable, "-m", "mlx_lm", "server", "--model", str(folder), "--host", host, "--port", str(port)]
        return cmd, str(folder), {"AUDIORAG_LLM__BACKEND": "openai", "AUDIORAG_LLM__BASE_URL": url,
                                  "AUDIORAG_LLM__REMOTE_MODEL": str(folder)}
    if name == "faster-whisper":
        exe = Path(sys.executable).parent / "faster-whisper-server"
        if not exe.exists():
            raise ServerError("faster-whisper-server is not installed: pip install faster-whisper-server")
        spec = model or settings.asr.model
        folder = Path(resolve_model(spec, "asr", settings))
        ct2 = folder / "ct2" if (folder / "ct2").is_dir() else folder
        config = _dir(settings) / "faster-whisper.yaml"
        config.write_text(f"models:\n  - name: {spec}\n    path: {ct2}\n"
                          "    model_options: {device: cpu, compute_type: int8}\n")
        cmd = [str(exe), "--config", str(config), "--host", host, "--port", str(port)]
        return cmd, spec, {"AUDIORAG_ASR__BACKEND": "openai", "AUDIORAG_ASR__BASE_URL": url,
                           "AUDIORAG_ASR__REMOTE_MODEL": spec}
    exe = shutil.which("vllm")
    if exe is None:
        raise ServerError("vLLM is not installed here (it needs a GPU): install it on the GPU machine and run "
                          "`audiorag servers start vllm --model mistralai/Voxtral-Mini-3B-2507` there")
    spec = model or "mistralai/Voxtral-Mini-3B-2507"
    cmd = [exe, "serve", spec, "--host", host, "--port", str(port)]
    if "voxtral" in spec.lower():  # Voxtral's weights and tokenizer are in Mistral's format
        cmd += ["--tokenizer-mode", "mistral", "--config-format", "mistral", "--load-format", "mistral"]
    return cmd, spec, {"AUDIORAG_LLM__BASE_URL": url, "AUDIORAG_LLM__REMOTE_MODEL": spec}


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not running
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _health(name: str, url: str, timeout: float = 3.0) -> float | None:
    """Milliseconds a health request took, or None when the server does not answer it yet. mlx_lm.server
    answers /health before its model loads: its check is a one-token completion (that loads it)."""
    root = url.rsplit("/v1", 1)[0]
    t0 = time.perf_counter()
    try:
        if name == "mlx-lm":
            body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}).encode()
            req = urllib.request.Request(f"{url}/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=max(timeout, 120)).read()
        else:
            urllib.request.urlopen(f"{root}/health", timeout=timeout).read()
    except OSError:
        return None
    return round((time.perf_counter() - t0) * 1000, 1)


def _record(settings, name: str) -> ServerInfo:
    path = _dir(settings) / f"{name}.json"
    try:
        return ServerInfo(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return ServerInfo(name=name)


def status(settings, name: str | None = None) -> list[ServerInfo]:
    """Every kind (or one): whether it runs (its recorded process is alive) and answers its health check."""
    if name is not None:
        _check_kind(name)
    out = []
    for kind in [name] if name else KINDS:
        info = _record(settings, kind)
        info.running = _alive(info.pid)
        info.healthy, info.latency_ms = False, None
        if info.running and info.url:
            info.latency_ms = _health(kind, info.url)
            info.healthy = info.latency_ms is not None
        out.append(info)
    return out


def start(settings, name: str, *, host: str = "127.0.0.1", port: int | None = None, model: str | None = None,
          wait_s: float = 300.0, progress: Progress = print) -> ServerInfo:
    """Start a server detached and wait until it answers; returns its status. One already running is kept."""
    _check_kind(name)
    (current,) = status(settings, name)
    if current.running:
        if current.healthy:
            progress(f"{name} already runs at {current.url} (pid {current.pid})")
            return current
        stop(settings, name, progress=progress)
    port = port or DEFAULT_PORTS[name]
    cmd, served, env_settings = command_for(name, settings, host, port, model)
    from rag.private import make_private

    folder = _dir(settings)
    log_path = folder / f"{name}.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # nothing phones home: a wrong model name fails, not downloads
    if name == "mlx-lm":  # its /v1/models scans the hub cache, and answers nothing when there is none
        env["HF_HUB_CACHE"] = str(make_private(folder / "hf-cache"))
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    info = ServerInfo(name=name, pid=proc.pid, url=f"http://{host}:{port}/v1", model=served, command=cmd,
                      log=str(log_path), started=time.time(), settings=env_settings)
    (folder / f"{name}.json").write_text(json.dumps(info.to_dict(), indent=1))
    progress(f"starting {name} on {info.url} (pid {proc.pid}, log {log_path})")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise ServerError(f"{name} exited with code {proc.returncode} while starting: {tail[0][:300]} "
                              f"(whole log: {log_path})")
        latency = _health(name, info.url)
        if latency is not None:
            info.running, info.healthy, info.latency_ms = True, True, latency
            return info
        time.sleep(1.0)
    stop(settings, name, progress=lambda _m: None)
    raise ServerError(f"{name} did not answer within {wait_s:g} s (log: {log_path}); stopped it")


def stop(settings, name: str, *, timeout: float = 20.0, progress: Progress = print) -> bool:
    """End a started server (its whole process group); True if one was running."""
    _check_kind(name)
    info = _record(settings, name)
    running = _alive(info.pid)
    if running:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(info.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while _alive(info.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if not _alive(info.pid):
                break
        progress(f"stopped {name} (pid {info.pid})")
    (_dir(settings) / f"{name}.json").unlink(missing_ok=True)
    return running
