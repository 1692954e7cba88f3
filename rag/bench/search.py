"""Search latency at 1k, 10k and 100k chunks, and how much an approximate vector index loses against exact search.

Method (self-contained: no models, no audio, a temporary LanceDB folder that is deleted afterwards):
- Rows are synthetic chunks: 384-d unit vectors drawn around 256 fixed cluster centres (so nearest neighbours are
  meaningful, like topic clusters in real transcripts) and ~120 words of text drawn with Zipf frequencies from a
  5,000-word pseudo-vocabulary (so full-text posting lists are long for common words and short for rare ones).
  The same seed gives the same rows on every machine.
- Per size: one table is written, a full-text index is built on `text` and an approximate vector index
  (`INDEX_TYPE`, cosine) on `vector`; build times are recorded.
- Queries: vectors drawn like the rows, text of three mid-frequency words. After warm-up queries, each query is
  timed once per mode: `vector_flat` (exact: `bypass_vector_index()`), `vector_ann` (the index, `NPROBES`,
  `REFINE_FACTOR`), `fts` and `hybrid` (vector + FTS fused with RRF, the way the app searches). p50/p95 in ms,
  top 10, ids only fetched.
- `recall10_ann` = mean |ANN top-10 ∩ exact top-10| / 10 over the same queries; `recall10_ann_norefine` the same
  for the index searched without the refine step (what a plain `search(vector)` on the index returns).
"""

from __future__ import annotations

import shutil
import tempfile
import time

import numpy as np

from rag.bench.common import Ctx, percentile

BENCH = "search"
DIM = 384
CENTRES = 256
WORDS_PER_CHUNK = 120
VOCAB = 5000
SIZES = (1_000, 10_000, 100_000)
INDEX_TYPE = "IVF_HNSW_SQ"
NPROBES = 16
# Scalar quantisation alone loses ~7 % of the true top 10 at 100k (recall ~0.93); re-ranking 3x10 candidates with
# the full vectors brings it to ~1.0 for ~2 ms. Recall without refine is reported too (`recall10_ann_norefine`).
REFINE_FACTOR: int | None = 3
EF_CONSTRUCTION = 100  # lancedb's default (300) triples the 100k build time; refine recovers the recall
MODES = ("vector_flat", "vector_ann", "fts", "hybrid")


def size_label(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def pseudo_vocabulary(n: int = VOCAB, seed: int = 7) -> np.ndarray:
    """n distinct pronounceable pseudo-words (2-4 syllables), deterministic."""
    rng = np.random.default_rng(seed)
    onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr", "st", "pl", "gr", "sh"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou", "ee"]
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < n:
        k = int(rng.integers(2, 5))
        w = "".join(onsets[rng.integers(len(onsets))] + vowels[rng.integers(len(vowels))] for _ in range(k))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return np.array(words)


def zipf_weights(n: int, s: float = 1.05) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def synthetic_rows(n: int, centres: np.ndarray, vocab: np.ndarray, rng: np.random.Generator):
    """(vectors float32 (n, DIM) unit rows, texts list[str])."""
    labels = rng.integers(0, len(centres), n)
    vecs = centres[labels] + 0.6 * rng.standard_normal((n, centres.shape[1]), dtype=np.float32) / np.sqrt(centres.shape[1])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    idx = rng.choice(len(vocab), size=(n, WORDS_PER_CHUNK), p=zipf_weights(len(vocab)))
    texts = [" ".join(row) for row in vocab[idx]]
    return vecs.astype(np.float32), texts


def _table(db, name: str, vecs: np.ndarray, texts: list[str]):
    import pyarrow as pa

    data = pa.table({
        "id": pa.array(np.arange(len(texts), dtype=np.int64)),
        "text": pa.array(texts),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel()), vecs.shape[1]),
    })
    return db.create_table(name, data)


def _run_queries(tbl, qvecs: np.ndarray, qtexts: list[str], warmup: int = 3):
    """({mode: latencies ms}, recall per query, recall per query without refine)."""
    from lancedb.rerankers import RRFReranker

    rrf = RRFReranker()

    def flat(q, t):
        return tbl.search(q).metric("cosine").bypass_vector_index().limit(10).select(["id", "_distance"]).to_arrow()

    def ann(q, t):
        return (tbl.search(q).metric("cosine").nprobes(NPROBES).refine_factor(REFINE_FACTOR).limit(10)
                .select(["id", "_distance"]).to_arrow())

    def ann_norefine(q, t):
        return tbl.search(q).metric("cosine").nprobes(NPROBES).limit(10).select(["id", "_distance"]).to_arrow()

    def fts(q, t):
        return tbl.search(t, query_type="fts").limit(10).select(["id", "_score"]).to_arrow()

    def hybrid(q, t):
        # no select(): lancedb warns on every hybrid query that has one (as in rag/store.py)
        return (tbl.search(query_type="hybrid").vector(q).text(t).metric("cosine").nprobes(NPROBES)
                .refine_factor(REFINE_FACTOR).rerank(rrf).limit(10).to_arrow())

    runners = {"vector_flat": flat, "vector_ann": ann, "fts": fts, "hybrid": hybrid}
    for i in range(min(warmup, len(qtexts))):
        for fn in runners.values():
            fn(qvecs[i], qtexts[i])
    lat: dict[str, list[float]] = {m: [] for m in MODES}
    recall: list[float] = []
    plain: list[float] = []
    for q, t in zip(qvecs, qtexts):
        ids = {}
        for mode, fn in runners.items():
            t0 = time.perf_counter()
            res = fn(q, t)
            lat[mode].append((time.perf_counter() - t0) * 1000)
            ids[mode] = set(res["id"].to_pylist())
        recall.append(len(ids["vector_flat"] & ids["vector_ann"]) / 10)
        plain.append(len(ids["vector_flat"] & set(ann_norefine(q, t)["id"].to_pylist())) / 10)
    return lat, recall, plain


def build_index(tbl, n: int) -> None:
    from lancedb.index import IvfHnswSq

    config = IvfHnswSq(distance_type="cosine", num_partitions=partitions(n), ef_construction=EF_CONSTRUCTION)
    tbl.create_index("vector", config=config)


def partitions(n: int) -> int:
    return max(1, n // 4096)


def run(ctx: Ctx) -> list[dict]:
    import lancedb
    from lancedb.index import FTS

    sizes = tuple(ctx.search_sizes or SIZES)
    n_queries = 20 if ctx.quick else 100
    rng = np.random.default_rng(1234)
    centres = rng.standard_normal((CENTRES, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vocab = pseudo_vocabulary()
    # Query words: mid-frequency ranks (not stop-word-like, not unseen), three per query.
    qwords = vocab[rng.integers(50, 1500, size=(n_queries, 3))]
    qtexts = [" ".join(w) for w in qwords]
    qvecs, _ = synthetic_rows(n_queries, centres, vocab[:10], rng)
    weights = [n for n in sizes]
    total_w = float(sum(weights))
    done_w = 0.0
    rows: list[dict] = []
    tmp = tempfile.mkdtemp(prefix="audiorag-bench-search-")
    try:
        db = lancedb.connect(tmp)
        for n in sizes:
            label = size_label(n)
            base = done_w / total_w
            step = n / total_w
            ctx.say(f"search: writing {n:,} synthetic chunks", base)
            vecs, texts = synthetic_rows(n, centres, vocab, rng)
            t0 = time.perf_counter()
            tbl = _table(db, f"chunks_{n}", vecs, texts)
            write_s = time.perf_counter() - t0
            del vecs, texts
            ctx.say(f"search: full-text index on {n:,} chunks", base + 0.1 * step)
            t0 = time.perf_counter()
            tbl.create_index("text", config=FTS(with_position=True))
            fts_s = time.perf_counter() - t0
            ctx.say(f"search: {INDEX_TYPE} index on {n:,} chunks", base + 0.2 * step)
            t0 = time.perf_counter()
            build_index(tbl, n)
            ann_s = time.perf_counter() - t0
            ctx.say(f"search: {n_queries} queries x {len(MODES)} modes on {n:,} chunks", base + 0.7 * step)
            lat, recall, plain = _run_queries(tbl, qvecs, qtexts)
            note = f"n={n}, {n_queries} queries, top 10"
            idx_note = (f"{INDEX_TYPE} cosine, partitions={partitions(n)}, ef_construction={EF_CONSTRUCTION}, "
                        f"nprobes={NPROBES}, refine={REFINE_FACTOR}")
            for mode in MODES:
                extra = idx_note if mode in ("vector_ann", "hybrid") else ("exact (bypass index)" if mode == "vector_flat" else "")
                for q in (50, 95):
                    rows.append(ctx.row(BENCH, f"{mode}_p{q}@{label}", percentile(lat[mode], q), "ms", "lancedb",
                                        notes="; ".join(x for x in (note, extra) if x)))
            rows.append(ctx.row(BENCH, f"recall10_ann@{label}", float(np.mean(recall)), "fraction", "lancedb",
                                notes=f"{idx_note}; vs exact flat search, {n_queries} queries"))
            rows.append(ctx.row(BENCH, f"recall10_ann_norefine@{label}", float(np.mean(plain)), "fraction", "lancedb",
                                notes=f"{idx_note.replace(f'refine={REFINE_FACTOR}', 'no refine')}; vs exact flat search"))
            rows.append(ctx.row(BENCH, f"write_s@{label}", write_s, "s", "lancedb", notes=note))
            rows.append(ctx.row(BENCH, f"fts_index_s@{label}", fts_s, "s", "lancedb", notes="FTS(with_position=True)"))
            rows.append(ctx.row(BENCH, f"ann_index_s@{label}", ann_s, "s", "lancedb", notes=idx_note))
            db.drop_table(f"chunks_{n}")
            done_w += n
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ctx.say("search: done", 1.0)
    return rows
