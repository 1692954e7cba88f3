"""The base: settings precedence, lazy CLI, model pack errors, doctor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("mlx", "mlx.core", "torch", "lancedb", "gradio", "transformers", "mlx_whisper", "mlx_lm", "faster_whisper")


def run_cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, cwd=ROOT)


def test_settings_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "audiorag.toml"
    cfg.write_text('data_dir = "/from/toml"\n[asr]\nmodel = "toml-asr"\nbackend = "mlx"\n[llm]\nmodel = "toml-llm"\n')
    monkeypatch.setenv("AUDIORAG_CONFIG", str(cfg))
    monkeypatch.delenv("AUDIORAG_DATA_DIR", raising=False)
    s = load_settings()
    assert (s.data_dir, s.asr.model, s.asr.backend, s.llm.model) == ("/from/toml", "toml-asr", "mlx", "toml-llm")
    assert s.embed.model == "all-minilm-l6-v2"  # default where nothing overrides
    monkeypatch.setenv("AUDIORAG_ASR__BACKEND", "ctranslate2")
    monkeypatch.setenv("AUDIORAG_DATA_DIR", "/from/env")
    s = load_settings()
    assert (s.data_dir, s.asr.model, s.asr.backend) == ("/from/env", "toml-asr", "ctranslate2")  # env over toml, per field
    s = load_settings(data_dir="/from/flag", asr={"model": "flag-asr"})
    assert (s.data_dir, s.asr.model, s.asr.backend) == ("/from/flag", "flag-asr", "ctranslate2")


def test_default_data_dir_in_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("AUDIORAG_DATA_DIR", raising=False)
    monkeypatch.setenv("AUDIORAG_CONFIG", str(tmp_path / "none.toml"))
    assert Path(load_settings().data_dir) == ROOT / "indexes"


def test_help_is_lazy():
    code = ("import sys; from rag.cli import build_parser; p = build_parser(); p.format_help(); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", f"--help imported heavy modules: {out.stdout}"
    help_text = run_cli("--help").stdout
    for verb in ("ingest", "transcribe", "list", "export", "delete", "reindex", "doctor", "models"):
        assert verb in help_text


def test_pull_unknown_model_is_one_clear_line(tmp_path):
    r = run_cli("models", "pull", "nosuchmodel", env={"AUDIORAG_MODELS_DIR": str(tmp_path)})
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "nosuchmodel" in lines[0] and "known packs" in lines[0], r.stderr


@pytest.fixture
def corruptible_pack(pack, tmp_path):
    """A private copy of the (small) embedding pack that a test may damage."""
    src = pack("all-minilm-l6-v2")
    models = tmp_path / "models"
    shutil.copytree(src, models / "all-minilm-l6-v2")
    return models


def test_corrupted_pack_is_one_clear_line(corruptible_pack):
    models = corruptible_pack
    env = {"AUDIORAG_MODELS_DIR": str(models)}
    ok = run_cli("models", "verify", "all-minilm-l6-v2", env=env)
    assert ok.returncode == 0, ok.stderr
    weights = models / "all-minilm-l6-v2" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    weights.write_bytes(bytes(data))
    for args in (("models", "verify", "all-minilm-l6-v2"), ("models", "verify")):
        r = run_cli(*args, env=env)
        assert r.returncode != 0
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and "corrupted" in lines[0] and "pull --force all-minilm-l6-v2" in lines[0], r.stderr
    # loading it (the quick check every load does) notices the changed file too
    from rag.models import ModelError
    from rag.models.pull import verify

    with pytest.raises(ModelError, match="checksum mismatch"):
        verify("all-minilm-l6-v2", models, quick=True)
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    r = run_cli("models", "list", "--json", env=env)
    row = next(x for x in json.loads(r.stdout) if x["name"] == "all-minilm-l6-v2")
    assert row["ready"] is False


def test_models_list_json(models_dir):
    r = run_cli("models", "list", "--json", env={"AUDIORAG_MODELS_DIR": str(models_dir)})
    rows = json.loads(r.stdout)
    assert {r["name"] for r in rows} >= {"whisper-tiny.en", "whisper-base", "gemma-3-270m", "smollm2-135m-instruct", "all-minilm-l6-v2"}
    assert {r["role"] for r in rows} == {"asr", "llm", "embed"}
    for r in rows:
        assert set(r) >= {"name", "role", "source", "format", "size_mb", "path", "ready"}


@pytest.mark.slow
def test_doctor_exits_zero_with_default_packs(pack, models_dir, tmp_path):
    for name in ("whisper-tiny.en", "smollm2-135m-instruct", "all-minilm-l6-v2"):
        pack(name)
    env = {"AUDIORAG_MODELS_DIR": str(models_dir), "AUDIORAG_DATA_DIR": str(tmp_path / "data"),
           "AUDIORAG_CONFIG": str(tmp_path / "none.toml")}
    r = run_cli("doctor", "--json", env=env)
    report = json.loads(r.stdout)
    assert r.returncode == 0, report["problems"]
    assert report["problems"] == []
    if sys.platform == "linux":
        assert "openblas" in report["blas"]  # preloaded; its speed-up is shown by doctor, never asserted on time
        assert report["openblas_speedup"] is not None


def test_doctor_reports_missing_pack(tmp_path):
    env = {"AUDIORAG_MODELS_DIR": str(tmp_path / "empty"), "AUDIORAG_DATA_DIR": str(tmp_path / "data"),
           "AUDIORAG_CONFIG": str(tmp_path / "none.toml")}
    r = run_cli("doctor", "--json", "--quick", env=env)
    assert r.returncode != 0
    problems = json.loads(r.stdout)["problems"]
    assert any("audiorag models pull whisper-tiny.en" in p for p in problems)
