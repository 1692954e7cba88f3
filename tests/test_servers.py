"""`audiorag servers`: a real mlx_lm.server started detached, checked, used by `doctor`, stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, free_port


def audiorag(settings, *args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUDIORAG_DATA_DIR": settings.data_dir, "AUDIORAG_MODELS_DIR": settings.models_dir,
           "AUDIORAG_CONFIG": os.path.join(settings.data_dir, "none.toml"), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)


def test_status_names_every_kind_and_start_needs_one(settings):
    r = audiorag(settings, "servers", "status", "--json")
    assert r.returncode == 0, r.stderr
    assert [(s["name"], s["running"]) for s in json.loads(r.stdout)] == \
        [("mlx-lm", False), ("faster-whisper", False), ("vllm", False)]
    r = audiorag(settings, "servers", "start")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == \
        "error: Say which server to start: mlx-lm, faster-whisper, vllm"
    r = audiorag(settings, "servers", "stop", "mlx-lm")
    assert r.returncode == 0 and "mlx-lm was not running" in r.stdout
    r = audiorag(settings, "servers", "status", "mlx-lm")
    assert r.returncode == 1 and r.stdout.strip() == "mlx-lm: not running"


@pytest.mark.slow
def test_start_status_doctor_stop(settings, pack):
    pack("smollm2-135m-instruct")
    port = free_port()
    r = audiorag(settings, "servers", "start", "mlx-lm", "--port", str(port))
    try:
        assert r.returncode == 0, r.stderr
        assert f"mlx-lm: healthy" in r.stdout and f"AUDIORAG_LLM__BASE_URL=http://127.0.0.1:{port}/v1" in r.stdout
        (state,) = json.loads(audiorag(settings, "servers", "status", "mlx-lm", "--json").stdout)
        assert state["running"] and state["healthy"] and state["url"] == f"http://127.0.0.1:{port}/v1"
        log = state["log"]
        assert os.stat(log).st_mode & 0o077 == 0  # the log is the user's alone
        use = state["settings"]
        doctor = audiorag(settings, "doctor", "--quick", "--json", extra_env=use)
        report = json.loads(doctor.stdout)
        assert doctor.returncode == 0, report["problems"]
        (srv,) = report["servers"]
        assert srv["reachable"] and srv["latency_ms"] > 0 and srv["request_ms"] > 0
        # started again while it runs: the same one is kept
        again = audiorag(settings, "servers", "start", "mlx-lm", "--port", str(port))
        assert again.returncode == 0 and f"already runs at http://127.0.0.1:{port}/v1 (pid {state['pid']})" in again.stdout
    finally:
        stopped = audiorag(settings, "servers", "stop", "mlx-lm")
    assert stopped.returncode == 0 and f"stopped mlx-lm (pid {state['pid']})" in stopped.stdout
    doctor = audiorag(settings, "doctor", "--quick", extra_env=use)
    assert doctor.returncode == 1
    (problem,) = [line for line in doctor.stdout.splitlines() if line.startswith("problem:")]
    assert problem == (f"problem: the answers and summaries server http://127.0.0.1:{port}/v1 is unreachable "
                       "(ConnectError): start it, or fix llm.base_url (AUDIORAG_LLM__BASE_URL)")
    assert audiorag(settings, "servers", "status", "mlx-lm").returncode == 1
