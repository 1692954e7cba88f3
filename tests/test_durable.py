"""Issue 18, "nothing lost, delete means gone, disk bounded": kill -9 at random moments of ingest, delete, reindex
and summarize; two overlapping ingests at once; a deleted episode in no file and served by no route; disk use
after repeated `ingest --force`. Real LanceDB on disk, real embedder (MiniLM) and LLM packs, the real app.

Transcript imports (.srt) stand in for recordings where ASR is not the point, so the trials stay cheap. Set
AUDIORAG_KILL_TRIALS (default 12, spread over the four operations) to run more, e.g. 50.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port
from tests.durability import make_transcripts, problems, sentence, write_srt

pytestmark = pytest.mark.slow

KILL_TRIALS = int(os.environ.get("AUDIORAG_KILL_TRIALS", "12"))
OPS = ("ingest", "delete", "reindex", "summarize")
WINDOW_S = {"ingest": 4.0, "delete": 5.0, "reindex": 3.0, "summarize": 12.0}  # a kill lands within this after `go`


def cli(settings, *args: str) -> int:
    from rag.cli import main
    from rag.settings import set_settings

    try:
        return main([*args, "--data-dir", settings.data_dir, "--models-dir", settings.models_dir])
    finally:
        set_settings(settings)


def worker(op: str, data_dir: Path, *rest: str, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tests.durability", op, str(data_dir), *rest], cwd=ROOT,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "go", f"worker did not start: {line!r} {proc.stderr.read()[-2000:] if proc.poll() else ''}"
    return proc


def _both(procs: list[subprocess.Popen], timeout: float) -> list[tuple[str, str]]:
    """Wait for workers that wait for each other: when one fails, the others are stopped and its error shown."""
    import threading

    outs: dict[int, tuple[str, str]] = {}
    readers = [threading.Thread(target=lambda i=i, p=p: outs.__setitem__(i, p.communicate()), daemon=True)
               for i, p in enumerate(procs)]
    for t in readers:
        t.start()
    deadline = time.monotonic() + timeout
    while any(t.is_alive() for t in readers) and time.monotonic() < deadline:
        if any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.2)
    for p in procs:
        if p.poll() is None:
            p.kill()
    for t in readers:
        t.join(30)
    for i, p in sorted(enumerate(procs), key=lambda ip: ip[1].returncode == -signal.SIGKILL):  # the cause first
        assert p.returncode == 0, f"worker {i} exited {p.returncode}: {outs.get(i, ('', ''))[1][-3000:]}"
    return [outs[i] for i in range(len(procs))]


def _env(settings) -> dict:
    return {"AUDIORAG_MODELS_DIR": settings.models_dir, "AUDIORAG_CONFIG": str(Path(settings.data_dir).parent / "none.toml"),
            "PYTHONPATH": str(ROOT)}


@pytest.fixture
def base(settings, pack, tmp_path):
    """A sound library of three transcript episodes, to copy for each trial."""
    for name in (settings.embed.model, "smollm2-135m-instruct", "gemma-3-270m"):
        pack(name)
    inputs = tmp_path / "inputs"
    first = make_transcripts(inputs, ["alpha", "bravo", "carol"], seed=7)
    assert cli(settings, "ingest", str(inputs)) == 0
    return Path(settings.data_dir), inputs, first


def test_a_ready_episode_missing_its_chunks_is_redone_not_unchanged(base, settings, capsys):
    from rag.store import Store

    _, inputs, first = base
    store = Store(settings)
    alpha = next(e for e in store.list_episodes() if e.title == "alpha")
    store._table("chunks").delete(f"episode_id = '{alpha.id}'")  # what the overlapping-ingest race left
    capsys.readouterr()
    assert cli(settings, "ingest", str(inputs), "--json") == 0
    statuses = {Path(r["path"]).stem: r["status"] for r in json.loads(capsys.readouterr().out)["results"]}
    assert statuses == {"alpha": "ingested", "bravo": "unchanged", "carol": "unchanged"}
    assert Store(settings).text_search(first["alpha"], 1)[0].episode_id == alpha.id


def test_kill_9_at_random_moments_loses_nothing_and_leaves_no_orphan(base, settings, tmp_path):
    from rag.settings import Settings
    from rag.store import Store

    base_dir, inputs, first = base
    base_ids = {e.id for e in Store(settings).list_episodes()}
    rng = random.Random(18)
    outcomes = []
    for trial in range(KILL_TRIALS):
        op = OPS[trial % len(OPS)]
        data = tmp_path / f"trial{trial}" / "data"
        shutil.copytree(base_dir, data)
        s = Settings(data_dir=str(data), models_dir=settings.models_dir)
        proc = worker(op, data, str(tmp_path / f"trial{trial}" / "work" if op == "delete" else inputs), env=_env(s))
        delay = rng.uniform(0.05, WINDOW_S[op])
        time.sleep(delay)
        assert proc.poll() is None, f"{op} worker died on its own: {proc.stderr.read()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # what the next commands do: open the library (finishes deletes), ingest or reindex again, optimize
        if op == "ingest":
            assert cli(s, "ingest", str(inputs)) == 0
        if op == "reindex":
            assert cli(s, "reindex") == 0
        assert cli(s, "optimize") == 0
        found = problems(s)
        assert not found, f"trial {trial} ({op}, killed after {delay:.2f} s): {found}"
        store = Store(s)
        ready = {e.id for e in store.list_episodes()}
        assert base_ids <= ready, f"trial {trial} ({op}): lost {base_ids - ready}"
        for name, text in first.items():  # every base episode is still found by its own words
            assert store.text_search(text, 1)[0].title == name, (trial, op, name)
        outcomes.append((op, round(delay, 2), len(ready)))
    print("kill trials (op, seconds after start, ready episodes):", outcomes)


def test_two_overlapping_ingests_do_each_file_once_and_keep_all_rows(settings, pack, tmp_path):
    from rag.settings import Settings
    from rag.store import Store

    pack(settings.embed.model)
    trials = 10
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    pairs_a, pairs_b, expected = [], [], []
    for k in range(trials):
        root = tmp_path / f"t{k}"
        names = [f"LJ001-000{i}" for i in range(2, 8)]
        first = make_transcripts(root / "all", names, seed=100 + k)
        for side, picked in (("a", names[:4]), ("b", names[2:])):  # 0002..0005 and 0004..0007
            (root / side).mkdir()
            for n in picked:
                shutil.copy(root / "all" / f"{n}.srt", root / side / f"{n}.srt")
        pairs_a.append(f"{root / 'data'}:{root / 'a'}")
        pairs_b.append(f"{root / 'data'}:{root / 'b'}")
        expected.append(first)
    env = _env(settings)
    procs = [worker("batches", tmp_path / "unused", str(barrier), side, *pairs, env=env)
             for side, pairs in (("a", pairs_a), ("b", pairs_b))]
    outs = _both(procs, timeout=1500)
    reports = [[json.loads(line)["report"] for line in out.splitlines() if line.startswith("{")] for out, _ in outs]
    assert len(reports[0]) == len(reports[1]) == trials
    for k in range(trials):
        s = Settings(data_dir=str(tmp_path / f"t{k}" / "data"), models_dir=settings.models_dir)
        assert not problems(s), (k, problems(s))
        by_file: dict[str, list[str]] = {}
        for report in (reports[0][k], reports[1][k]):
            failed = [(r["path"], r.get("reason")) for r in report["results"] if r["status"] == "failed"]
            assert not failed, (k, failed)
            for r in report["results"]:
                by_file.setdefault(Path(r["path"]).stem, []).append(r["status"])
        for name in ("LJ001-0004", "LJ001-0005"):  # in both batches: done by one, found ready by the other
            assert sorted(by_file[name]) == ["ingested", "unchanged"], (k, name, by_file[name])
        store = Store(s)
        ready = {e.title: e for e in store.list_episodes()}
        assert len(ready) == 6, (k, sorted(ready))
        for name, text in expected[k].items():
            title = name.replace("-", " ")
            assert store.is_complete(ready[title].id), (k, name)
            assert store.text_search(text, 1)[0].episode_id == ready[title].id, (k, name)


def test_deleted_episode_is_in_no_file_and_served_by_no_route(settings, pack, tmp_path):
    import httpx
    from gradio_client import Client, handle_file

    from rag.llm import task_model
    from ui.api import write_export
    from ui.app import build_app, launch
    from ui.render import audio_url

    for name in {settings.asr.model, settings.embed.model, settings.llm.model, task_model(settings, "answer"),
                 task_model(settings, "summary")}:
        pack(name)
    rng = random.Random(5)
    gone_text, keep_text = sentence(rng, "plumtreegone"), sentence(rng, "figtreekept")
    files = tmp_path / "up"
    files.mkdir()
    subprocess.run(["espeak-ng", "-w", str(files / "gone.wav"), gone_text], check=True)
    write_srt(files / "gone.srt", [gone_text], seconds=5.0)
    write_srt(files / "keep.srt", [keep_text])
    # more episodes than ten, compacted together: LanceDB's own compaction rewrites a fragment only once 10 % of
    # it is deleted, so one deleted episode among them stays on disk unless deleted rows are rewritten out
    make_transcripts(files, [f"more{i}" for i in range(11)], seed=9)
    demo = build_app(settings)
    _, url, _ = launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        rows = client.predict(files=[handle_file(str(p)) for p in sorted(files.iterdir())], enhance=False,
                              api_name="/ingest")
        assert sum(r["status"] == "ingested" for r in rows) == 13, rows
        gone_id = next(r["episode_id"] for r in rows if r["name"] == "gone.srt")
        backend = demo.backend
        data = Path(settings.data_dir).resolve()
        exports = [write_export(backend, gone_id, fmt) for fmt in ("srt", "md", "json")]
        served = [audio_url(p) for p in exports] + [backend.src_for(gone_id)]
        uploads = [p for p in (data / ".gradio").rglob("*") if p.is_file() and "gone" in p.name]
        assert len(uploads) >= 2, uploads  # Gradio's copies of gone.wav and gone.srt
        served += [audio_url(str(p)) for p in uploads]
        with httpx.Client(base_url=url.rstrip("/")) as http:
            before = {u: http.get(u).status_code for u in served}
            assert all(code == 200 for code in before.values()), before
            assert client.predict(gone_id, api_name="/delete_episode")["deleted"] == gone_id
            assert cli(settings, "optimize") == 0
            after = {u: http.get(u).status_code for u in served}
        assert not any(code == 200 for code in after.values()), after
    finally:
        demo.close()
    needles = [gone_text.encode(), b"plumtreegone"]
    holders = [p for p in data.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]
    holders += [p for p in exports if Path(p).exists()]
    assert not holders, f"the deleted episode's text is still in {holders}"
    # the check can fail: the kept episode's text is found in the tables' files
    assert any(b"figtreekept" in p.read_bytes() for p in (data / "library").rglob("*.lance") if p.is_file())


def test_repeated_force_ingest_keeps_the_data_dir_bounded(settings, pack, tmp_path):
    from rag.optimize import dir_size

    pack(settings.embed.model)
    clip = tmp_path / "clip"
    clip.mkdir()
    text = "The lighthouse keeper counted forty crates of marmalade on the pier."
    subprocess.run(["espeak-ng", "-w", str(clip / "talk.wav"), text], check=True)
    write_srt(clip / "talk.srt", [text], seconds=4.5)
    assert cli(settings, "ingest", str(clip)) == 0
    first = dir_size(settings)
    sizes = []
    for _ in range(10):
        assert cli(settings, "ingest", str(clip), "--force") == 0
        sizes.append(dir_size(settings))
    assert cli(settings, "optimize") == 0
    final = dir_size(settings)
    print(f"data dir: {first} B after the first ingest, {sizes} during, {final} after optimize")
    assert final <= 1.5 * first, (first, sizes, final)
    assert not problems(settings)
