"""LLM speed on the local backends (mlx-lm and llama.cpp in process): prompt tokens/s, generated tokens/s and time to first
token for 200-, 800- and 1500-token prompts — the sizes of a short question, a question with a few retrieved
passages, and a summary of a long chunk.

Method:
- Models: the configured `llm.model`; full mode adds every pulled LLM pack. Each is loaded through
  `rag.llm.load_mlx` (the same cached object answers use), then driven with `mlx_lm.stream_generate` directly
  on token ids, so the numbers are the model's, not the prompt template's.
- Prompts: the first N tokens of a fixed English text repeated (N = 200, 800, 1500), greedy decoding, and the
  end-of-sequence tokens are masked so every run generates exactly `max_tokens` (16 quick, 128 full) — a model that
  stops early would otherwise make generation speed depend on the text.
- One untimed warm-up generation first. `ttft_s` is the wall time from the call to the first generated token
  (prompt processing + one decoding step), measured here; `prompt_tps` and `gen_tps` are mlx-lm's own counters
  for the prefill and the decoding phase; `peak_mem_mb` is MLX's peak memory for the 1500-token run.
- llama.cpp (`llamacpp`, where `auto` picks it: Linux x86_64 with the pack's GGUF): the same pack and token ids,
  measured right after mlx-lm for each prompt size (so both see the same machine load), greedy with end tokens
  ignored and the prompt cache off; `llamacpp_vs_mlx_*` rows are the ratios (> 1: llama.cpp faster). Its rates are
  llama.cpp's own timings; its TTFT is wall time to the first streamed piece, measured here.
- Threads: each generation runs as the backends run it, on the cores other processes leave free at that moment
  (mlx-lm: OpenBLAS's threads through `rag.runtime.fitted_blas`; llama.cpp: the server with that many threads);
  the row's note says how many.
- Remote backends (`openai`) are not measured: their speed is the server's.
"""

from __future__ import annotations

import time

from rag.bench.common import Ctx

BENCH = "llm"
PROMPT_SIZES = (200, 800, 1500)


def installed_models(settings, quick: bool) -> list[str]:
    from rag.models import PACKS
    from rag.models.pull import read_manifest

    models = [settings.llm.model]
    if not quick:
        for name, pack in PACKS.items():
            if pack.role == "llm" and name not in models and read_manifest(name, settings.models_path) is not None:
                models.append(name)
    return models


def prompt_ids(tokenizer, n: int) -> list[int]:
    from rag.bench.embed import GETTYSBURG

    ids: list[int] = []
    text = GETTYSBURG
    while len(ids) < n:
        ids = list(tokenizer.encode(text))
        text += " " + GETTYSBURG
    return ids[:n]


def _no_eos(eos_ids):
    """A logits processor that keeps the model from ending, so every run decodes the same number of tokens."""
    import numpy as np

    from rag.runtime import mx

    ids = sorted(int(i) for i in eos_ids if i is not None)
    bias: dict[int, object] = {}

    def proc(tokens, logits):
        vocab = logits.shape[-1]
        if vocab not in bias:
            b = np.zeros(vocab, dtype=np.float32)
            b[[i for i in ids if i < vocab]] = -np.inf
            bias[vocab] = mx().array(b)
        return logits + bias[vocab].astype(logits.dtype)

    return proc


def measure(model, tokenizer, ids: list[int], max_tokens: int) -> dict:
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    from rag.runtime import blas_num_threads, fitted_blas, mx

    m = mx()
    eos = getattr(tokenizer, "eos_token_ids", None) or {tokenizer.eos_token_id}
    try:
        m.reset_peak_memory()
    except AttributeError:
        pass
    t0 = time.perf_counter()
    ttft = None
    last = None
    with fitted_blas():  # as the backend's stream() runs it: OpenBLAS on the cores free now
        threads = blas_num_threads()
        for resp in stream_generate(model, tokenizer, ids, max_tokens=max_tokens, sampler=make_sampler(temp=0.0),
                                    logits_processors=[_no_eos(eos)]):
            if ttft is None:
                ttft = time.perf_counter() - t0
            last = resp
    total = time.perf_counter() - t0
    return {
        "ttft_s": ttft or total,
        "prompt_tps": last.prompt_tps,
        "gen_tps": last.generation_tps,
        "gen_tokens": last.generation_tokens,
        "prompt_tokens": last.prompt_tokens,
        "peak_mem_mb": float(last.peak_memory) * 1000,  # mlx-lm reports GB
        "total_s": total,
        "threads": threads,
    }


def measure_llamacpp(llm, ids: list[int], max_tokens: int) -> dict:
    """`measure` on the llama.cpp backend: the same token ids, greedy, end tokens ignored, no prompt cache (each
    run prefills the whole prompt, as mlx-lm does). Rates are llama.cpp's own timings."""
    t0 = time.perf_counter()
    ttft = None
    body = {"prompt": list(ids), "max_tokens": max_tokens, "temperature": 0.0, "ignore_eos": True,
            "cache_prompt": False}
    with llm._lock:  # as stream() does: one generation at a time per model
        for _ in llm.chunks("handle_completions", body):
            ttft = ttft or time.perf_counter() - t0
    total = time.perf_counter() - t0
    s = llm.last_stats
    return {"ttft_s": ttft or total, "prompt_tps": s.get("prompt_tps") or 0.0, "gen_tps": s.get("generation_tps") or 0.0,
            "gen_tokens": s.get("generation_tokens") or 0, "prompt_tokens": s.get("prompt_tokens") or 0,
            "total_s": total, "threads": s.get("threads")}


def llamacpp_for(spec: str, settings):
    """The llama.cpp backend on this pack's GGUF, or None where it cannot run (not Linux x86_64, no GGUF)."""
    from rag.llm import auto_backend, load_local

    if auto_backend(spec, settings) != "llamacpp":
        return None
    return load_local(spec, settings, "llamacpp")


def _rows(ctx: Ctx, backend: str, spec: str, n: int, r: dict) -> list[dict]:
    note = f"{r['prompt_tokens']} prompt tokens, {r['gen_tokens']} generated (EOS masked), greedy"
    if r.get("threads"):
        note += f", {r['threads']} thread(s)"
    return [ctx.row(BENCH, f"prompt_tps@{n}", r["prompt_tps"], "tokens/s", backend, spec, note),
            ctx.row(BENCH, f"gen_tps@{n}", r["gen_tps"], "tokens/s", backend, spec, note),
            ctx.row(BENCH, f"ttft_s@{n}", r["ttft_s"], "s", backend, spec, note)]


def _ratios(ctx: Ctx, spec: str, n: int, mlx: dict, cpp: dict) -> list[dict]:
    """llama.cpp against mlx-lm on the same pack, prompt and run: > 1 means llama.cpp is faster."""
    note = f"same {n}-token prompt, measured one after the other in this run"
    ratio = lambda a, b: a / b if b else 0.0  # noqa: E731
    return [ctx.row(BENCH, f"llamacpp_vs_mlx_prompt_tps@{n}", ratio(cpp["prompt_tps"], mlx["prompt_tps"]), "x",
                    "llamacpp", spec, note),
            ctx.row(BENCH, f"llamacpp_vs_mlx_gen_tps@{n}", ratio(cpp["gen_tps"], mlx["gen_tps"]), "x",
                    "llamacpp", spec, note),
            ctx.row(BENCH, f"llamacpp_vs_mlx_ttft_speedup@{n}", ratio(mlx["ttft_s"], cpp["ttft_s"]), "x",
                    "llamacpp", spec, note + "; mlx-lm's time to first token / llama.cpp's")]


def _load(ctx: Ctx, spec: str) -> tuple:
    from rag.llm import load_mlx

    t0 = time.perf_counter()
    llm = load_mlx(spec, ctx.settings)
    load_s = time.perf_counter() - t0
    measure(llm.model, llm.tokenizer, prompt_ids(llm.tokenizer, 32), 4)  # warm-up
    rows = [ctx.row(BENCH, "load_s", load_s, "s", "mlx", spec, "already loaded in this process" if load_s < 0.05 else "")]
    t0 = time.perf_counter()
    cpp = llamacpp_for(spec, ctx.settings)
    if cpp is not None:
        rows.append(ctx.row(BENCH, "load_s", time.perf_counter() - t0, "s", "llamacpp", spec,
                            f"{cpp.threads} threads at load; each request then on the cores free at that moment"))
        measure_llamacpp(cpp, prompt_ids(llm.tokenizer, 32), 4)  # warm-up
    return llm, cpp, rows


def run(ctx: Ctx) -> list[dict]:
    max_tokens = 16 if ctx.quick else 128
    models = installed_models(ctx.settings, ctx.quick)
    rows: list[dict] = []
    for mi, spec in enumerate(models):
        frac = mi / len(models)
        ctx.say(f"llm: loading {spec}", frac)
        llm, cpp, loaded = _load(ctx, spec)
        rows += loaded
        for si, n in enumerate(PROMPT_SIZES):
            ctx.say(f"llm: {spec}, {n}-token prompt", frac + (si + 0.5) / len(PROMPT_SIZES) / len(models))
            ids = prompt_ids(llm.tokenizer, n)  # the same ids for both: the GGUF's vocabulary is the pack's
            r = measure(llm.model, llm.tokenizer, ids, max_tokens)
            rows += _rows(ctx, "mlx", spec, n, r)
            if n == PROMPT_SIZES[-1]:
                rows.append(ctx.row(BENCH, f"peak_mem_mb@{n}", r["peak_mem_mb"], "MB", "mlx", spec,
                                    "MLX peak memory (mx.get_peak_memory via mlx-lm)"))
            if cpp is not None:
                c = measure_llamacpp(cpp, ids, max_tokens)
                rows += _rows(ctx, "llamacpp", spec, n, c) + _ratios(ctx, spec, n, r, c)
    ctx.say("llm: done", 1.0)
    return rows
