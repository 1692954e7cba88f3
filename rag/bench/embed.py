"""Embedding throughput (chunks/s), single-query latency and peak memory of the configured embedding model.

Method:
- Texts: chunk-sized windows (120 words, about what a 45-60 s chunk of speech holds) cut at different offsets
  from a built-in public-domain text (the Gettysburg Address), so every machine embeds the same words.
  Quick mode embeds 32 chunks twice, full mode 256 chunks three times; the best pass is reported (the one least
  disturbed by other processes).
- The model is loaded with `rag.embed.get_embedder` (the object ingest and search use) and warmed up on 4 texts;
  the timed part is one `embed(texts)` call, batching as ingest does.
- `query_ms` is the p50 latency of embedding one short question (what every search pays).
- `peak_rss_mb` is the growth of the process's resident memory from before the model load to the peak during
  loading and embedding (Linux: the kernel's high-water mark, reset at the start). When the model was already
  loaded in this process (the web app), it covers embedding only; the note says so.
"""

from __future__ import annotations

import time

from rag.bench.common import Ctx, PeakMemory, percentile

BENCH = "embed"
WORDS_PER_CHUNK = 120

GETTYSBURG = (
    "Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in "
    "Liberty, and dedicated to the proposition that all men are created equal. Now we are engaged in a great civil "
    "war, testing whether that nation, or any nation so conceived and so dedicated, can long endure. We are met on "
    "a great battle-field of that war. We have come to dedicate a portion of that field, as a final resting place "
    "for those who here gave their lives that that nation might live. It is altogether fitting and proper that we "
    "should do this. But, in a larger sense, we can not dedicate, we can not consecrate, we can not hallow this "
    "ground. The brave men, living and dead, who struggled here, have consecrated it, far above our poor power to "
    "add or detract. The world will little note, nor long remember what we say here, but it can never forget what "
    "they did here. It is for us the living, rather, to be dedicated here to the unfinished work which they who "
    "fought here have thus far so nobly advanced. It is rather for us to be here dedicated to the great task "
    "remaining before us, that from these honored dead we take increased devotion to that cause for which they gave "
    "the last full measure of devotion, that we here highly resolve that these dead shall not have died in vain, "
    "that this nation, under God, shall have a new birth of freedom, and that government of the people, by the "
    "people, for the people, shall not perish from the earth."
)

QUERIES = [
    "what did they dedicate the field to",
    "who brought forth a new nation",
    "when was the nation conceived",
    "what shall not perish from the earth",
    "why is it fitting and proper",
    "what will the world little note",
    "what task remains before us",
    "where are we met",
    "who consecrated the ground",
    "what kind of birth does the nation need",
]


def chunk_texts(n: int, words_per_chunk: int = WORDS_PER_CHUNK) -> list[str]:
    """n windows of `words_per_chunk` words from the text, each starting 7 words after the previous (wrapping)."""
    words = GETTYSBURG.split()
    out = []
    for i in range(n):
        start = (i * 7) % len(words)
        out.append(" ".join((words * 2)[start : start + words_per_chunk]))
    return out


def run(ctx: Ctx) -> list[dict]:
    import rag.embed as embed_mod
    from rag.embed import get_embedder

    n, passes = (32, 2) if ctx.quick else (256, 3)
    texts = chunk_texts(n)
    spec = ctx.settings.embed.model
    backend = ctx.settings.embed.backend if ctx.settings.embed.backend not in ("", "auto") else embed_mod.AUTO_BACKEND
    ctx.say(f"embed: loading {spec}", 0.0)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        embedder = get_embedder(ctx.settings)
        load_s = time.perf_counter() - t0
        embedder.embed(texts[:4])
        best = float("inf")
        for p in range(passes):
            ctx.say(f"embed: {n} chunks, pass {p + 1}/{passes}", 0.1 + 0.8 * p / passes)
            t0 = time.perf_counter()
            vecs = embedder.embed(texts)
            best = min(best, time.perf_counter() - t0)
    assert vecs.shape[0] == n
    q_ms = []
    for q in QUERIES:
        t0 = time.perf_counter()
        embedder.embed([q])
        q_ms.append((time.perf_counter() - t0) * 1000)
    tokens = None
    tok = getattr(embedder, "tokenizer", None)
    if tok is not None:
        try:
            limit = getattr(embedder, "max_length", 256)
            tokens = sum(len(tok(t, truncation=True, max_length=limit)["input_ids"]) for t in texts) / n
        except Exception:  # noqa: BLE001 — the token count is a note, not a result
            tokens = None
    loaded_before = load_s < 0.05
    note = f"{n} chunks of {WORDS_PER_CHUNK} words" + (f" (~{tokens:.0f} tokens)" if tokens else "") + f", best of {passes}"
    rows = [
        ctx.row(BENCH, "chunks_per_s", n / best, "chunks/s", backend, spec, note),
        ctx.row(BENCH, "query_ms", percentile(q_ms, 50), "ms", backend, spec, f"p50 of {len(QUERIES)} one-question calls"),
        ctx.row(BENCH, "load_s", load_s, "s", backend, spec, "already loaded in this process" if loaded_before else ""),
        ctx.row(BENCH, "peak_rss_mb", mem.delta_mb, "MB", backend, spec,
                f"resident memory growth, {mem.method}" + ("; embedding only (model was loaded)" if loaded_before else
                                                           "; model load + embedding")),
    ]
    if tokens:
        rows.append(ctx.row(BENCH, "tokens_per_s", tokens * n / best, "tokens/s", backend, spec, note))
    ctx.say("embed: done", 1.0)
    return rows
