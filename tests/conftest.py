"""Shared fixtures. Real models come from the machine-wide pack cache (converted once per machine, reused by
every test run and by CI); every test gets its own data dir and settings."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

import rag  # noqa: F401  (BLAS preload before anything imports MLX)
from rag.settings import Settings, set_settings
from rag.textnorm import normalize_text, number_to_words, wer  # noqa: F401  (one scorer for tests, bench, eval)

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AUDIORAG_SHARED", ROOT.parent / "shared"))
ASR_DIR = SHARED / "audio" / "asr"
ARTIFACTS = Path(os.environ.get("AUDIORAG_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def audiorag_cmd() -> list[str]:
    """How a test runs the CLI as a user would: the venv's `audiorag` script, else `python -m rag.cli`."""
    import sys

    exe = Path(sys.executable).with_name("audiorag")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "rag.cli"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM (servers started in the background ignore SIGINT), then SIGKILL if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _models_dir() -> Path:
    return Path(os.environ.get("AUDIORAG_TEST_MODELS_DIR", Path.home() / ".cache" / "audiorag" / "models"))


@pytest.fixture(scope="session")
def models_dir() -> Path:
    d = _models_dir()
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def pack(models_dir):
    """pack("whisper-tiny.en") → the pulled pack folder (pulled once per machine)."""
    from rag.models.pull import pull

    def _get(name: str) -> Path:
        return pull(name, models_dir, progress=lambda m: None)

    return _get


@pytest.fixture
def settings(tmp_path, models_dir, monkeypatch) -> Settings:
    """A fresh home for one test: its own data dir and config, the shared model cache."""
    monkeypatch.setenv("AUDIORAG_CONFIG", str(tmp_path / "audiorag.toml"))
    monkeypatch.setenv("AUDIORAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AUDIORAG_MODELS_DIR", str(models_dir))
    s = Settings()
    set_settings(s)
    yield s
    set_settings(None)


@pytest.fixture(scope="session")
def asr_manifest() -> dict:
    path = ASR_DIR / "asr_manifest.json"
    if not path.exists():
        pytest.skip(f"shared audio not found at {ASR_DIR}")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS



@pytest.fixture
def app_url(settings, pack):
    """The web app on a free port with this test's data dir and the real model packs it uses."""
    from rag.llm import task_model

    for name in {settings.asr.model, settings.embed.model, settings.llm.model, task_model(settings, "answer"),
                 task_model(settings, "summary")}:
        pack(name)
    from ui.app import build_app, launch

    demo = build_app(settings)
    _, url, _ = launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


from tests.fixtures_library import library  # noqa: E402,F401  (the shared read-side library fixture)
