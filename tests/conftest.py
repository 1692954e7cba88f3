"""Shared fixtures. Real models come from the machine-wide pack cache (converted once per machine, reused by
every test run and by CI); every test gets its own data dir and settings."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import rag  # noqa: F401  (BLAS preload before anything imports MLX)
from rag.settings import Settings, set_settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AUDIORAG_SHARED", ROOT.parent / "shared"))
ASR_DIR = SHARED / "audio" / "asr"
ARTIFACTS = Path(os.environ.get("AUDIORAG_TEST_ARTIFACTS", ROOT / "test-artifacts"))


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


_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_to_words(n % 100))
    if 1000 < n < 2000 and n % 100 != 0 or 1100 <= n < 2000:  # years: 1455 → fourteen fifty five
        hi, lo = divmod(n, 100)
        return number_to_words(hi) + " " + ("hundred" if lo == 0 else ("oh " + _ONES[lo] if lo < 10 else number_to_words(lo)))
    if n < 1_000_000:
        return number_to_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_to_words(n % 1000))
    return str(n)


def normalize_text(text: str) -> str:
    """Lower case, numbers as words, no punctuation: for WER against references that spell numbers out."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", text)
    text = re.sub(r"\d+", lambda m: " " + number_to_words(int(m.group())) + " ", text)
    text = re.sub(r"[^a-z' ]+", " ", text).replace("'", "")
    return " ".join(text.split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(normalize_text(reference), normalize_text(hypothesis))
