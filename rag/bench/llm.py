"""LLM speed on the local backend (mlx-lm in process): prompt tokens/s, generated tokens/s and time to first
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

    from rag.runtime import mx

    m = mx()
    eos = getattr(tokenizer, "eos_token_ids", None) or {tokenizer.eos_token_id}
    try:
        m.reset_peak_memory()
    except AttributeError:
        pass
    t0 = time.perf_counter()
    ttft = None
    last = None
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
    }


def run(ctx: Ctx) -> list[dict]:
    from rag.llm import load_mlx

    max_tokens = 16 if ctx.quick else 128
    models = installed_models(ctx.settings, ctx.quick)
    rows: list[dict] = []
    for mi, spec in enumerate(models):
        frac = mi / len(models)
        ctx.say(f"llm: loading {spec}", frac)
        t0 = time.perf_counter()
        llm = load_mlx(spec, ctx.settings)
        load_s = time.perf_counter() - t0
        model, tokenizer = llm.model, llm.tokenizer
        measure(model, tokenizer, prompt_ids(tokenizer, 32), 4)  # warm-up
        rows.append(ctx.row(BENCH, "load_s", load_s, "s", "mlx", spec,
                            "already loaded in this process" if load_s < 0.05 else ""))
        for si, n in enumerate(PROMPT_SIZES):
            ctx.say(f"llm: {spec}, {n}-token prompt", frac + (si + 0.5) / len(PROMPT_SIZES) / len(models))
            r = measure(model, tokenizer, prompt_ids(tokenizer, n), max_tokens)
            note = f"{r['prompt_tokens']} prompt tokens, {r['gen_tokens']} generated (EOS masked), greedy"
            rows.append(ctx.row(BENCH, f"prompt_tps@{n}", r["prompt_tps"], "tokens/s", "mlx", spec, note))
            rows.append(ctx.row(BENCH, f"gen_tps@{n}", r["gen_tps"], "tokens/s", "mlx", spec, note))
            rows.append(ctx.row(BENCH, f"ttft_s@{n}", r["ttft_s"], "s", "mlx", spec, note))
            if n == PROMPT_SIZES[-1]:
                rows.append(ctx.row(BENCH, f"peak_mem_mb@{n}", r["peak_mem_mb"], "MB", "mlx", spec,
                                    "MLX peak memory (mx.get_peak_memory via mlx-lm)"))
    ctx.say("llm: done", 1.0)
    return rows
