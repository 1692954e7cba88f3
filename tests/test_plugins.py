"""One plugin seam for backends (rag.plugins): ours are listed, and a third-party package plugs in an ASR
backend through an entry point, which `audiorag ingest --asr-backend NAME` then uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rag import plugins
from rag.models import ModelError
from tests.conftest import ASR_DIR, audiorag_cmd

ROOT = Path(__file__).resolve().parent.parent
JFK = ASR_DIR / "wav16k" / "whisper_jfk.wav"


def test_builtin_backends_are_listed():
    out = subprocess.run([*audiorag_cmd(), "plugins", "--json"], cwd=ROOT, capture_output=True, text=True, check=True)
    found = {(p["role"], p["name"]): p for p in json.loads(out.stdout)}
    for role, name in (("asr", "mlx"), ("asr", "ctranslate2"), ("asr", "openai"), ("llm", "mlx"),
                       ("llm", "openai"), ("embed", "mlx"), ("diarize", "senko"), ("diarize", "powerset")):
        assert found[(role, name)]["source"] == "builtin"
        module, _, attr = found[(role, name)]["target"].partition(":")
        assert attr == "load" and (ROOT / (module.replace(".", "/") + ".py")).exists()


def test_unknown_backend_is_one_clear_error():
    with pytest.raises(ModelError, match="unknown asr backend 'nosuch'; installed: auto, mlx"):
        plugins.factory("asr", "nosuch")


PLUGIN = '''
"""A third-party ASR backend for audiorag: hears the same sentence in any audio."""
from rag.schema import Segment, Transcript, Word

SENTENCE = "plugins are found through entry points"


class Parrot:
    name = "parrot"

    def __init__(self, spec):
        self.model_name = f"parrot-{spec}"

    def transcribe(self, audio, *, language=None, word_timestamps=True):
        duration = len(audio) / 16000
        words = SENTENCE.split()
        step = duration / len(words)
        ws = [Word(word=" " + w, start=i * step, end=(i + 1) * step) for i, w in enumerate(words)]
        seg = Segment(id=0, start=0.0, end=duration, text=SENTENCE + ".", words=ws)
        return Transcript(segments=[seg], language="en", model=self.model_name, duration=duration,
                          has_word_times=True)


def load(spec, settings):
    return Parrot(spec)
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The package `audiorag-parrot`, built and installed (pip, no index) into a folder of its own."""
    src = tmp_path_factory.mktemp("parrot-src")
    (src / "audiorag_parrot").mkdir()
    (src / "audiorag_parrot" / "__init__.py").write_text(PLUGIN)
    (src / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "audiorag-parrot"
        version = "0.1"
        [project.entry-points."audiorag.asr"]
        parrot = "audiorag_parrot:load"
    """))
    site = tmp_path_factory.mktemp("parrot-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
                    "--target", str(site), str(src)], check=True, capture_output=True, timeout=300)
    return site


def test_third_party_asr_backend_is_used_by_ingest(plugin_site, tmp_path, models_dir):
    if not JFK.exists():
        pytest.skip(f"shared recordings not found at {ASR_DIR}")
    env = dict(os.environ, AUDIORAG_DATA_DIR=str(tmp_path / "data"), AUDIORAG_CONFIG=str(tmp_path / "none.toml"),
               AUDIORAG_MODELS_DIR=str(models_dir),
               PYTHONPATH=os.pathsep.join([str(plugin_site), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    run = lambda *a: subprocess.run([*audiorag_cmd(), *a], cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: E731
                                    timeout=600)
    listed = json.loads(run("plugins", "--json").stdout)
    assert {"role": "asr", "name": "parrot", "target": "audiorag_parrot:load", "source": "audiorag-parrot"} in listed

    out = run("ingest", str(JFK), "--asr-backend", "parrot")
    assert out.returncode == 0, out.stderr
    episodes = json.loads(run("list", "--json").stdout)
    assert len(episodes) == 1
    text = run("export", episodes[0]["id"], "-f", "txt").stdout
    assert "plugins are found through entry points" in text.lower()
    assert "ask not what your country" not in text.lower()  # not the real transcript: the plugin did the work
