"""Command output through a real pipe (`audiorag … | cat`): every name and path whole, one row per line; the rich
table only on a terminal (a pseudo-terminal here)."""

from __future__ import annotations

import os
import pty
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BOX = ("│", "┃", "━", "─")  # what a rich table is drawn with


def piped(*args: str, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    """`python -m rag.cli ARGS | cat` in a shell: stdout is a pipe, as for a user who pipes or redirects."""
    cmd = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "rag.cli", *args)) + " | cat"
    return subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=timeout)


def on_terminal(*args: str, env: dict, timeout: int = 120) -> str:
    """The same command with stdout on a pseudo-terminal; returns what it drew."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", *args], stdout=follower, stderr=subprocess.DEVNULL,
                            cwd=ROOT, env={**os.environ, **env, "COLUMNS": "100"})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the follower side closed: the command has exited
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    proc.wait(timeout=timeout)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def deep(tmp_path):
    """A folder whose path alone is longer than the 80 columns rich falls back to off a terminal."""
    d = tmp_path / ("a-folder-name-long-enough-that-rich-would-cut-or-fold-it-" * 2).rstrip("-")
    d.mkdir()
    assert len(str(d)) > 100
    return d


def test_models_list_through_a_pipe_keeps_names_and_paths_whole(deep, pack):
    from rag.models import PACKS

    models = deep / "models"
    shutil.copytree(pack("all-minilm-l6-v2"), models / "all-minilm-l6-v2")
    env = {"AUDIORAG_MODELS_DIR": str(models)}
    r = piped("models", "list", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["name", "role", "source", "format", "size", "ready", "where"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert set(rows) == set(PACKS)  # one line per pack, each name whole
    for name, cells in rows.items():
        assert cells[-1] == str(models / name)  # the path whole, on the pack's own line
    assert rows["all-minilm-l6-v2"][5] == "yes" and rows["whisper-base"][5] == "no"
    assert not any(ch in r.stdout for ch in BOX)

    drawn = on_terminal("models", "list", env=env)
    assert any(ch in drawn for ch in BOX) and "model packs in" in drawn  # the table is for terminals


@pytest.mark.slow
def test_ingest_through_a_pipe_keeps_paths_whole(deep, pack, models_dir):
    pack("all-minilm-l6-v2")
    srt = deep / "a-talk-whose-file-name-is-long-too.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:04,000\nMovable types changed printing for ever.\n\n"
                   "2\n00:00:04,000 --> 00:00:09,000\nEvery page could be set from the same letters.\n", encoding="utf-8")
    env = {"AUDIORAG_DATA_DIR": str(deep / "data"), "AUDIORAG_MODELS_DIR": str(models_dir),
           "AUDIORAG_CONFIG": str(deep / "none.toml")}
    r = piped("ingest", str(srt), env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["status", "file", "episode", "duration", "seconds", "reason"]
    status, path, episode = lines[1].split("\t")[:3]
    assert (status, path) == ("ingested", str(srt)) and len(episode) == 12
    assert lines[2] == "1 ingested"
    assert not any(ch in r.stdout for ch in BOX)
    # The progress log on stderr (not a terminal here either): the path on one line with its status.
    assert any(line.startswith("ingested") and line.endswith(str(srt)) for line in r.stderr.splitlines())
