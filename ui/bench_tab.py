"""The Benchmarks tab: run the quick suite (rag.bench), show its table and chart, download the CSV, and browse
earlier runs (rag.bench keeps every run in `<data dir>/bench/bench.csv` and one PNG per run beside it).

The bench package is optional for the app: without it (an older build, a trimmed install) the tab says so and
disables its buttons instead of breaking the page.
"""

from __future__ import annotations

import csv
import importlib
import math
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from ui.backend import Backend
from ui.errors import friendly

TABLE_COLUMNS = ["bench", "backend", "model", "metric", "value", "unit", "notes"]


def bench_module():
    """rag.bench, or None when this build does not have it (or it does not have what the tab calls)."""
    try:
        mod = importlib.import_module("rag.bench")
    except ImportError:
        return None
    needed = ("run_bench", "list_runs", "rows_of_run", "png_location", "BENCHES")
    return mod if all(hasattr(mod, n) for n in needed) else None


def _fmt(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "" if math.isnan(f) else f"{f:.4g}"


def table_rows(rows: list[dict]) -> list[list[str]]:
    return [[r.get("bench", ""), r.get("backend", ""), r.get("model", ""), r.get("metric", ""), _fmt(r.get("value")),
             r.get("unit", ""), r.get("notes", "")] for r in rows]


def write_run_csv(rows: list[dict], run_id: str, settings) -> str:
    """This run's rows as their own CSV file, for the download button (in the library's private exports)."""
    from rag.private import private_dir

    path = private_dir(settings, "exports", "bench") / f"bench-{run_id}.csv"
    columns = list(rows[0].keys()) if rows else TABLE_COLUMNS
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return str(path)


def chart_path(mod, backend: Backend, run_id: str) -> str | None:
    location = mod.png_location(backend.settings, run_id)
    if "://" in location:
        from rag.storage import local_copy

        try:
            return str(local_copy(location, backend.settings))
        except OSError:
            return None
    return location if Path(location).exists() else None


def show_run(backend: Backend, run_id: str | None):
    """(table, chart, csv file, status line) for one run."""
    mod = bench_module()
    if not run_id or mod is None:
        return gr.update(value=[]), None, None, ""
    rows = mod.rows_of_run(run_id, backend.settings)
    if not rows:
        raise gr.Error(f"no benchmark run '{run_id}' in this library")
    errors = [r for r in rows if r.get("metric") == "error"]
    status = f"Run `{run_id}` on {rows[0].get('machine', '?')}: {len(rows)} row(s)"
    if errors:
        status += f"; {len(errors)} bench(es) failed: " + "; ".join(f"{r['bench']}: {r.get('notes', '')}" for r in errors)
    return (gr.update(value=table_rows(rows), headers=TABLE_COLUMNS), chart_path(mod, backend, run_id),
            write_run_csv(rows, run_id, backend.settings), status)


def run_choices(backend: Backend) -> list[tuple[str, str]]:
    mod = bench_module()
    if mod is None:
        return []
    out = []
    for r in mod.list_runs(backend.settings):
        label = f"{r['started'][:19].replace('T', ' ')} · {', '.join(r['benches'])}{' · quick' if r['quick'] else ''}"
        if r.get("errors"):
            label += f" · {r['errors']} failed"
        out.append((label, r["run_id"]))
    return out


def initial(backend: Backend):
    """(note, earlier-runs dropdown, run button, bench choice) when the page loads."""
    mod = bench_module()
    if mod is None:
        note = "The benchmark package (`rag.bench`) is not available in this build, so runs cannot be started here."
        return note, gr.update(choices=[], value=None), gr.update(interactive=False), gr.update(interactive=False)
    note = ("Measures this machine: ASR real-time factor and WER, embedding throughput, search latency, LLM "
            "tokens/s, and one ingest end to end. Quick mode takes a few minutes; every run is kept in the "
            "library's benchmark history (`audiorag bench --runs`).")
    return (note, gr.update(choices=run_choices(backend), value=None), gr.update(interactive=True),
            gr.update(choices=list(mod.BENCHES), interactive=True))


def layout() -> SimpleNamespace:
    with gr.Tab("Benchmarks", id="bench", elem_id="tab-bench"):
        note = gr.Markdown("", elem_id="bench-note")
        with gr.Row():
            which = gr.CheckboxGroup(choices=[], value=["search", "embed", "llm"], label="Benchmarks to run (quick mode)",
                                     elem_id="bench-which", scale=3)
            run_btn = gr.Button("Run quick benchmark", variant="primary", elem_id="bench-btn", scale=1)
        runs = gr.Dropdown(label="Runs (newest first)", choices=[], value=None, elem_id="bench-runs")
        status = gr.Markdown("", elem_id="bench-status")
        table = gr.Dataframe(headers=TABLE_COLUMNS, value=[], interactive=False, label="Results", elem_id="bench-table",
                             wrap=True)
        with gr.Row():
            chart = gr.Image(label="Chart", type="filepath", interactive=False, elem_id="bench-chart", scale=3)
            csv_file = gr.File(label="CSV of this run", interactive=False, elem_id="bench-csv", scale=1)
    return SimpleNamespace(note=note, which=which, run_btn=run_btn, runs=runs, status=status, table=table,
                           chart=chart, csv_file=csv_file, initial_outputs=[note, runs, run_btn, which])


def wire(backend: Backend, ui: SimpleNamespace, *, heavy: dict, private: dict) -> None:
    run_btn, which, runs, status, table, chart, csv_file = (ui.run_btn, ui.which, ui.runs, ui.status, ui.table,
                                                           ui.chart, ui.csv_file)
    @friendly
    def do_run(names, progress=gr.Progress()):
        mod = bench_module()
        if mod is None:
            raise gr.Error("The benchmark package (rag.bench) is not available in this build.")
        if not names:
            raise gr.Error("Choose at least one benchmark.")

        def report(fraction, message):
            progress(fraction, desc=message)

        rows = mod.run_bench(list(names), quick=True, progress=report, settings=backend.settings)
        if not rows:
            raise gr.Error("The benchmark produced no results.")
        run_id = rows[0]["run_id"]
        return gr.update(choices=run_choices(backend), value=run_id)

    # Selecting the run in the dropdown shows it (its change event), so the run handler only selects it.
    run_btn.click(do_run, which, runs, **heavy, **private)

    @friendly
    def pick(run_id):
        return show_run(backend, run_id)

    runs.change(pick, runs, [table, chart, csv_file, status], **private)
