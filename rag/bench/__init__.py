"""`audiorag bench`: measure every stage on this machine and keep the history.

Benchmarks (one module each; the method is in each module's docstring and in docs/benchmarks.md):
`asr` (RTF and WER per backend and model, against plain faster-whisper), `embed` (chunks/s, peak memory),
`search` (vector/FTS/hybrid latency at 1k-100k chunks, ANN recall), `llm` (prompt and generation tokens/s,
time to first token), `ingest` (one recording end to end, share of each stage), `ui` (time to first token
through the web app's /ask API); `diarize`, when named (DER, speaker counts and real-time factor on the shared
multi-speaker recordings; what diarization adds to an ingest).

Every run appends its rows to `<data dir>/bench/bench.csv` and draws `<data dir>/bench/bench-<run_id>.png`.
The web app's Benchmarks tab calls `run_bench`, `list_runs`, `load_csv` and `make_png` from here.
Importing this package is cheap: each benchmark imports its heavy libraries when it runs.
"""

from __future__ import annotations

import importlib
import os
import time
import traceback
from pathlib import Path

from rag.bench.common import (
    COLUMNS,
    Ctx,
    Progress,
    append_rows,
    csv_location,
    list_runs,
    load_average,
    load_csv,
    make_png,
    png_location,
    print_table,
    rows_of_run,
)

BENCHES = ("search", "embed", "asr", "llm", "ingest", "ui")  # the order of `all`: cheap and model-free first
# Rough share of a quick run's time each bench takes (for the progress bar only).
WEIGHTS = {"search": 0.2, "embed": 0.07, "asr": 0.3, "llm": 0.12, "ingest": 0.22, "ui": 0.09, "diarize": 0.25}
OPTIONAL = ("diarize",)  # run when named, not by `all` (DER over the shared recordings takes minutes)

__all__ = ["BENCHES", "COLUMNS", "run_bench", "list_runs", "load_csv", "make_png", "print_table", "rows_of_run",
           "csv_location", "png_location", "append_rows", "Ctx"]


def expand(names: list[str] | tuple[str, ...] | str | None) -> list[str]:
    """['all'] / None → every bench; otherwise the names in BENCHES order, checked."""
    if names is None or names == "all":
        return list(BENCHES)
    if isinstance(names, str):
        names = [names]
    if not names or "all" in names:
        return list(BENCHES)
    unknown = [n for n in names if n not in BENCHES + OPTIONAL]
    if unknown:
        raise ValueError(f"unknown benchmark {', '.join(unknown)}; choose from: all, {', '.join(BENCHES + OPTIONAL)}")
    return [b for b in BENCHES + OPTIONAL if b in names]


def run_bench(
    names: list[str] | str | None = None,
    quick: bool = True,
    progress: Progress | None = None,
    *,
    settings=None,
    audio: str | Path | None = None,
    png: str | Path | None = None,
    write: bool = True,
    search_sizes: tuple[int, ...] | None = None,
    asr_files: int | None = None,
    asr_models: list[str] | None = None,
    under_load: int | None = None,
) -> list[dict]:
    """Run benchmarks, append their rows to the history CSV and draw the PNG (unless `write=False`).

    `progress(fraction or None, message)` is called as the run goes (gradio's `gr.Progress()` fits). A benchmark
    that fails adds an `error` row with the reason and the others still run. `under_load=n` (0: the default
    burner size) runs them again beside n busy processes and adds `under_load:` and `slowdown:` rows
    (rag/bench/load.py). Returns the rows of this run.
    """
    from rag.settings import get_settings

    settings = settings or get_settings()
    todo = expand(names)
    ctx = Ctx(settings=settings, quick=quick, audio_dir=Path(audio) if audio else None,
              progress=progress or (lambda f, m: None), search_sizes=search_sizes, asr_files=asr_files,
              asr_models=asr_models)
    if under_load is None:
        rows = _run_all(todo, ctx, (0.0, 1.0))
    else:
        rows = _run_quiet_and_loaded(todo, ctx, under_load or None)
    if write and rows:
        append_rows(rows, settings)
        make_png(rows, png or png_location(settings, ctx.run_id), settings)
    ctx.progress(1.0, "done")
    return rows


def _run_quiet_and_loaded(todo: list[str], ctx: Ctx, burners: int | None) -> list[dict]:
    from rag.bench.load import Burner, mark_loaded, slowdowns

    quiet = _run_all(todo, ctx, (0.0, 0.5))
    with Burner(burners) as burner:
        ctx.say(f"now under load: {burner.n} busy process(es)", None)
        load0 = load_average()
        loaded = _run_all(todo, ctx, (0.5, 1.0))
    load = "" if load0 is None else f", load average {load0:.1f} → {load_average():.1f}"
    loaded = mark_loaded(loaded, burner.n, load)
    return quiet + loaded + slowdowns(quiet, loaded, ctx)


def _run_all(todo: list[str], ctx: Ctx, span: tuple[float, float]) -> list[dict]:
    """Each bench in turn, owning its share of `span` of the progress bar, with its wall_s row."""
    total_w = sum(WEIGHTS[b] for b in todo)
    lo, width = span[0], span[1] - span[0]
    done_w = 0.0
    rows: list[dict] = []
    for name in todo:
        ctx.span = (lo + width * done_w / total_w, lo + width * (done_w + WEIGHTS[name]) / total_w)
        load0 = load_average()
        t0 = time.perf_counter()
        try:
            rows += importlib.import_module(f"rag.bench.{name}").run(ctx)
        except Exception as exc:  # noqa: BLE001 — one failing bench never loses the others' results
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            ctx.say(f"{name}: failed: {msg}", 1.0)
            rows.append(ctx.row(name, "error", float("nan"), "", notes=f"{exc.__class__.__name__}: {msg}"))
            if os.environ.get("AUDIORAG_DEBUG"):
                traceback.print_exc()
        wall = time.perf_counter() - t0
        load1 = load_average()
        load = "" if load0 is None else f"; load average {load0:.1f} → {load1:.1f} on {os.cpu_count()} cores"
        rows.append(ctx.row(name, "wall_s", wall, "s", notes=("quick" if ctx.quick else "full") + load))
        done_w += WEIGHTS[name]
    return rows
