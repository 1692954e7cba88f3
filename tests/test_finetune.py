"""Teaching the library's text model (issue 16): corrections as data, `audiorag finetune` on a tiny real library
(a transcript imported from SRT, real embeddings, the real SmolLM2 pack), the adapter reloaded in fresh processes,
and the one-line errors for a corrupt adapter and for one trained on another model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, audiorag_cmd

LINES = [
    "Welcome back to the Kestrel workshop, where we service the Kestrel valve every Monday.",
    "The Kestrel valve has three parts: the spindle, the collar and the brass seat.",
    "First we drain the line, then we loosen the collar a quarter turn.",
    "Never force the spindle; a stuck spindle means the brass seat is dry.",
    "A drop of Kestrel grease on the brass seat frees the spindle in a minute.",
    "Then we tighten the collar by hand and open the line again.",
    "If the Kestrel valve still drips, we replace the brass seat.",
    "A new brass seat costs four euros and takes ten minutes to fit.",
    "We log every repair in the workshop book with the date and the valve number.",
    "Next Monday we service the Kestrel pump, the valve's bigger sister.",
]


def _srt(lines: list[str], repeat: int = 4) -> str:
    out, t, n = [], 0.0, 1
    for _ in range(repeat):
        for line in lines:
            ts = lambda s: f"00:{int(s // 60):02d}:{int(s % 60):02d},{int(s * 1000) % 1000:03d}"  # noqa: E731
            out.append(f"{n}\n{ts(t)} --> {ts(t + 4)}\n{line}\n")
            t, n = t + 4.5, n + 1
    return "\n".join(out)


def _env(home) -> dict:
    return {**os.environ, "AUDIORAG_DATA_DIR": str(home / "data"), "AUDIORAG_MODELS_DIR": str(home / "models"),
            "AUDIORAG_CONFIG": str(home / "audiorag.toml"), "PYTHONPATH": str(ROOT)}


def _run(home, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*audiorag_cmd(), *args], capture_output=True, text=True, env=_env(home),
                          timeout=timeout, cwd=home)


@pytest.fixture(scope="module")
def home(tmp_path_factory, models_dir):
    """A tiny library (the SRT above, imported) and a models dir of its own (the packs linked in), so adapters
    are written beside it and never into the shared cache."""
    from rag.models.pull import pull

    home = tmp_path_factory.mktemp("tune")
    (home / "models").mkdir()
    for name in ("smollm2-135m-instruct", "all-minilm-l6-v2"):
        (home / "models" / name).symlink_to(pull(name, models_dir, progress=lambda m: None))
    (home / "kestrel.srt").write_text(_srt(LINES), encoding="utf-8")
    proc = _run(home, "ingest", str(home / "kestrel.srt"), timeout=600)
    assert proc.returncode == 0, proc.stderr
    return home


def test_held_out_passages_are_stable_and_never_trained_on():
    from rag.finetune_data import split

    found = [{"text": f"passage {i} about the brass seat"} for i in range(40)]
    train, test = split(found)
    assert test and train and not {p["text"] for p in train} & {p["text"] for p in test}
    assert split(list(reversed(found)))[1] == list(reversed(test))  # chosen by text, not by position


def test_user_jsonl_is_checked_line_by_line(tmp_path):
    from rag.finetune_data import FinetuneError, as_plain, read_jsonl

    good = tmp_path / "pairs.jsonl"
    good.write_text('{"prompt": "Fix: the rolo valve", "completion": "the Rollo valve"}\n\n'
                    '{"prompt": "Fix: navy said", "completion": "Davies said"}\n')
    assert len(read_jsonl(good)) == 2
    plain = as_plain(read_jsonl(good), has_template=False)
    assert plain[0]["text"] == "User: Fix: the rolo valve\nAssistant: the Rollo valve"
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"text": "a"}\n{"prompt": "p", "completion": "c"}\n')
    with pytest.raises(FinetuneError, match="mixes record kinds"):
        read_jsonl(mixed)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"txt": 1}\n')
    with pytest.raises(FinetuneError, match="bad.jsonl line 2: each line must have"):
        read_jsonl(bad)


def test_corrections_are_exported_and_become_cleanup_pairs(home, monkeypatch, capsys):
    from rag.cli import main
    from rag.edit import edit_segment
    from rag.embed import get_embedder
    from rag.finetune_data import correction_pairs
    from rag.settings import Settings, set_settings
    from rag.store import Store

    for k, v in _env(home).items():
        monkeypatch.setenv(k, v)
    settings = Settings()
    set_settings(settings)
    store = Store(settings)
    (ep,) = store.list_episodes()
    seg = store.segments(ep.id)[1]
    edit_segment(store, get_embedder(settings), ep.id, seg.id, seg.text.replace("brass seat", "bronze seat"))
    try:
        assert main(["corrections", "export", "--out", str(home / "fixes.jsonl")]) == 0
    finally:
        set_settings(None)
    (row,) = [json.loads(x) for x in (home / "fixes.jsonl").read_text().splitlines()]
    assert row["episode_id"] == ep.id and row["title"] == ep.title and row["segment_id"] == seg.id
    assert (row["start"], row["end"]) == (seg.start, seg.end)
    assert "brass seat" in row["heard"] and "bronze seat" in row["corrected"]
    assert "1 correction" in capsys.readouterr().err
    (pair,) = correction_pairs(Store(settings))
    assert [m["content"] for m in pair["messages"][1:]] == [row["heard"], row["corrected"]]


COMPARE = r"""
import json, sys
import rag
from rag.llm import clear_cache, get_llm
from rag.settings import Settings
import mlx.core as mx
out = {}
for adapter in (None, sys.argv[1]):
    s = Settings()
    s.llm.adapter = adapter
    llm = get_llm(s, model="smollm2-135m-instruct", backend="mlx")  # the same backend both times
    ids, _ = llm.prompt_tokens([{"role": "user", "content": "What do we put on the brass seat?"}])
    logits = llm.model(mx.array([ids]))[0, -1]
    out[str(adapter)] = {"logits": logits.tolist()[:2000], "text": llm.generate(
        [{"role": "user", "content": "What do we put on the brass seat?"}], max_tokens=12), "name": llm.name}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_finetune_reload_and_the_adapters_one_line_errors(home):
    proc = _run(home, "finetune", "--name", "kestrel", "--iters", "4", "--batch-size", "2", "--learning-rate", "5e-4")
    assert proc.returncode == 0, proc.stderr
    assert "held-out perplexity" in proc.stdout and "iteration 2/4" in proc.stderr
    manifest = json.loads((home / "models" / "kestrel" / "manifest.json").read_text())
    assert manifest["role"] == "adapter" and manifest["base"] == "smollm2-135m-instruct"
    assert manifest["iterations"] == 4 and manifest["data"]["held_out_passages"] >= 1
    f = manifest["figures"]
    assert f["perplexity_after"] < f["perplexity_before"], f  # the held-out text of this library

    listed = json.loads(_run(home, "models", "list", "--json").stdout)
    (row,) = [r for r in listed if r["name"] == "kestrel"]
    assert row["base"] == "smollm2-135m-instruct" and row["ready"] and row["figures"]["perplexity_after"]

    # a fresh process loads the base with and without the adapter: the adapter changes what the model says
    cmp = subprocess.run([sys.executable, "-c", COMPARE, "kestrel"], capture_output=True, text=True,
                         env=_env(home), timeout=600)
    assert cmp.returncode == 0, cmp.stderr
    out = json.loads(cmp.stdout)
    base, tuned = out["None"], out["kestrel"]
    assert tuned["name"] == "smollm2-135m-instruct+kestrel"
    assert max(abs(a - b) for a, b in zip(base["logits"], tuned["logits"])) > 1e-3

    asked = _run(home, "ask", "--adapter", "kestrel", "--json", "What do we put on the brass seat?")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["citations"]

    # resume goes on counting
    more = _run(home, "finetune", "--name", "kestrel", "--resume", "--iters", "2", "--batch-size", "2")
    assert more.returncode == 0, more.stderr
    assert json.loads((home / "models" / "kestrel" / "manifest.json").read_text())["iterations"] == 6

    # another base model: refused before anything loads
    wrong = _run(home, "ask", "--adapter", "kestrel", "--answer-model", "gemma-3-270m", "brass seat?")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines() == [
        "error: Adapter 'kestrel' was trained on smollm2-135m-instruct, not gemma-3-270m: choose "
        "smollm2-135m-instruct (--llm-model smollm2-135m-instruct) or an adapter trained on gemma-3-270m"]

    # a damaged adapter pack: one line
    shutil.copytree(home / "models" / "kestrel", home / "models" / "broken")
    weights = home / "models" / "broken" / "adapters.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    bad = _run(home, "ask", "--adapter", "broken", "brass seat?")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "Adapter 'broken' is corrupted (adapters.safetensors has the wrong size)" in bad.stderr

    # a plain mlx-lm adapter folder with garbage weights: mlx-lm's own failure, as one line
    plain = home / "plain-adapter"
    plain.mkdir()
    shutil.copy(home / "models" / "kestrel" / "adapter_config.json", plain)
    (plain / "adapters.safetensors").write_bytes(b"not a safetensors file")
    junk = _run(home, "ask", "--adapter", str(plain), "brass seat?")
    assert junk.returncode == 2 and len(junk.stderr.strip().splitlines()) == 1, junk.stderr
    assert junk.stderr.startswith(f"error: Adapter '{plain}' cannot be loaded on smollm2-135m-instruct")
