"""Helpers for the durability tests (tests/test_durable.py): small transcript files with sentences no other file
shares, and one check of a library for duplicates, losses and orphans.

Also a worker, run as `python -m tests.durability OP DATA_DIR ...`, that loads everything, prints `go`, and then
repeats one operation (ingest, delete, reindex, summarize, or a list of ingest batches) with the real code, so a
test can `kill -9` it at a random moment of real writes (not of Python's start-up).
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import sys
import time
from pathlib import Path

WORDS = ("amber basalt cedar dune ember fjord garnet harbor indigo juniper kelp lagoon marble nectar onyx prairie "
         "quartz reef saffron tundra umber velvet willow yarrow zephyr beacon canyon delta estuary glacier").split()


def sentence(rng: random.Random, tag: str) -> str:
    """A sentence of eight random words plus a tag: a text no other file in the test has."""
    return f"The {' '.join(rng.choice(WORDS) for _ in range(8))} {tag} crossed the valley."


def write_srt(path: Path, sentences: list[str], seconds: float = 3.0) -> Path:
    cues = []
    for i, text in enumerate(sentences):
        a, b = i * seconds, (i + 1) * seconds - 0.2
        cues.append(f"{i + 1}\n{_ts(a)} --> {_ts(b)}\n{text}\n")
    path.write_text("\n".join(cues), encoding="utf-8")
    return path


def _ts(t: float) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def make_transcripts(folder: Path, names: list[str], seed: int) -> dict[str, str]:
    """One .srt per name (two cues each) in `folder`; returns {name: its first sentence}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    first = {}
    for name in names:
        texts = [sentence(rng, f"{name}x{seed}"), sentence(rng, f"{name}y{seed}")]
        write_srt(folder / f"{name}.srt", texts)
        first[name] = texts[0]
    return first


def problems(settings) -> list[str]:
    """Duplicates, incomplete ready episodes and orphans in a library (empty when it is sound). Opening the
    store finishes any interrupted delete first, as every command does."""
    from rag.store import CHUNKS, SEGMENTS, Store

    store = Store(settings)
    episodes = store.list_episodes(include_incomplete=True)
    ids = [e.id for e in episodes]
    found = [f"duplicate episode rows: {ids}"] if len(ids) != len(set(ids)) else []
    for name in (SEGMENTS, CHUNKS):
        if name == CHUNKS and store._chunks() is None:
            continue
        rows = store._table(name).search().select(["episode_id", "id"]).limit(None).to_list()
        keys = [(r["episode_id"], r["id"]) for r in rows]
        if len(keys) != len(set(keys)):
            found.append(f"duplicate {name} rows")
        orphans = {k[0] for k in keys} - set(ids)
        if orphans:
            found.append(f"{name} rows without an episode: {sorted(orphans)}")
    for e in episodes:
        if e.status == "ready" and not store.is_complete(e.id):
            found.append(f"ready episode {e.id} without all its rows: {store.row_counts(e.id)}")
    if store.pending_deletes():
        found.append("an unfinished delete")
    audio = Path(settings.data_dir) / "audio"
    strays = [f.name for f in audio.iterdir() if f.name.split(".")[0] not in ids] if audio.is_dir() else []
    if strays:
        found.append(f"audio copies without an episode: {strays}")
    return found


# -- the worker ----------------------------------------------------------------------------------------------------
def _cli(*args: str) -> str:
    """`audiorag ARGS` in this process (models stay loaded between calls); returns what it printed."""
    from rag.cli import main
    from rag.settings import set_settings

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    set_settings(None)
    if code not in (0, 1):
        raise SystemExit(f"audiorag {' '.join(args)} exited {code}")
    return out.getvalue()


def _worker(op: str, data_dir: str, rest: list[str]) -> None:
    from rag.embed import get_embedder
    from rag.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    get_embedder(settings)
    d = ["--data-dir", data_dir]
    if op == "batches":  # rest: a barrier folder, then data_dir:folder pairs; one `ingest` per pair
        barrier, name, pairs = Path(rest[0]), rest[1], rest[2:]
        print("go", flush=True)
        for k, pair in enumerate(pairs):
            (barrier / f"{k}-{name}").touch()
            while len(list(barrier.glob(f"{k}-*"))) < 2:
                time.sleep(0.005)
            lib, folder = pair.split(":")
            print(json.dumps({"trial": k, "report": json.loads(_cli("ingest", folder, "--json", "--data-dir", lib))}),
                  flush=True)
        return
    if op == "summarize":
        from rag.llm import get_task_llm

        get_task_llm(settings, "summary")
    print("go", flush=True)
    for i in range(10_000):
        if op == "ingest":
            _cli("ingest", rest[0], "--force", "--json", *d)
        elif op == "delete":
            folder = Path(rest[0]) / f"round{i}"
            make_transcripts(folder, ["gone"], seed=1000 + i)
            report = json.loads(_cli("ingest", str(folder), "--json", *d))
            _cli("delete", report["results"][0]["episode_id"], "--yes", *d)
        elif op == "reindex":
            _cli("reindex", *d)
        elif op == "summarize":
            _cli("summarize", "--all", "--json", *d)
        else:
            raise SystemExit(f"unknown op {op}")


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], sys.argv[3:])
