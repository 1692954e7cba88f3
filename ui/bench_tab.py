"""The Benchmarks tab: run the quick suite (rag.bench), show its table and chart, download the CSV, and browse
earlier runs kept under `<data dir>/bench/`.

The bench module is optional for the app: without it (an older build, or a trimmed install) the tab still browses
earlier CSV runs and says plainly why the run button is disabled.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import gradio as gr

from ui.backend import Backend, read_csv
from ui.errors import friendly


def bench_module():
    """rag.bench, or None when this build does not have it."""
    try:
        return importlib.import_module("rag.bench")
    except ImportError:
        return None


def _runner(mod):
    """The quick-suite entry point of rag.bench (the first of the known names that exists)."""
    for name in ("run_quick", "run_suite", "run"):
        fn = getattr(mod, name, None)
        if callable(fn):
            return fn
    return None


def run_quick(backend: Backend) -> Path:
    """Run the quick suite and return the CSV it wrote (under <data dir>/bench/)."""
    mod = bench_module()
    fn = _runner(mod) if mod else None
    if fn is None:
        raise gr.Error("The benchmark module (rag.bench) is not available in this build.")
    params = inspect.signature(fn).parameters
    kwargs = {}
    for key, value in (("quick", True), ("settings", backend.settings), ("out_dir", backend.bench_dir()),
                       ("progress", lambda *a, **k: None)):
        if key in params:
            kwargs[key] = value
    out = fn(**kwargs)
    csv = _csv_of(out)
    if csv is None:
        runs = backend.bench_runs()
        if not runs:
            raise gr.Error("The benchmark finished but wrote no CSV.")
        csv = runs[0]
    return csv


def _csv_of(out) -> Path | None:
    """Find the CSV path in whatever the bench runner returned (a path, a dict, a tuple, an object)."""
    candidates = []
    if isinstance(out, (str, Path)):
        candidates.append(out)
    elif isinstance(out, dict):
        candidates += [out.get("csv"), out.get("csv_path")]
    elif isinstance(out, (tuple, list)):
        candidates += [x for x in out if isinstance(x, (str, Path))]
    else:
        candidates += [getattr(out, "csv", None), getattr(out, "csv_path", None)]
    for c in candidates:
        if c and str(c).endswith(".csv") and Path(c).is_file():
            return Path(c)
    return None


def show_run(backend: Backend, csv_path: str | None):
    """(table, chart, csv file, status) for one CSV run; the chart is the PNG beside it, if any."""
    if not csv_path:
        return gr.update(value=[]), None, None, ""
    path = Path(csv_path)
    root = backend.bench_dir().resolve()
    if not path.resolve().is_relative_to(root) or not path.is_file():
        raise gr.Error("That run is not in the library's bench folder.")
    headers, rows = read_csv(path)
    pngs = sorted(path.parent.glob(path.stem + "*.png")) or sorted(path.parent.glob("*.png"))
    chart = str(pngs[0]) if pngs else None
    return (gr.update(value=rows, headers=headers), chart, str(path),
            f"{len(rows)} row(s) from `{path.relative_to(root)}`")


def run_choices(backend: Backend) -> list[tuple[str, str]]:
    root = backend.bench_dir()
    return [(str(p.relative_to(root)), str(p)) for p in backend.bench_runs()]


def initial(backend: Backend):
    """(note, earlier-runs dropdown, run button) when the page loads."""
    mod = bench_module()
    ok = mod is not None and _runner(mod) is not None
    note = ("Runs the quick benchmark suite on this machine (ingest real-time factor, search latency, answer "
            "quality); results are kept as CSV under the library's `bench/` folder."
            if ok else "The benchmark module (`rag.bench`) is not available in this build: earlier runs can still "
            "be browsed below.")
    return note, gr.update(choices=run_choices(backend), value=None), gr.update(interactive=ok)


def wire(backend: Backend, note, run_btn, runs, status, table, chart, csv, *, heavy: dict, private: dict) -> None:
    @friendly
    def do_run():
        yield gr.update(), "Running the quick benchmark… (this can take a few minutes)", gr.update(), None, None
        path = run_quick(backend)
        t, c, f, s = show_run(backend, str(path))
        yield gr.update(choices=run_choices(backend), value=str(path)), s, t, c, f

    run_btn.click(do_run, None, [runs, status, table, chart, csv], **heavy, **private)

    @friendly
    def pick(value):
        t, c, f, s = show_run(backend, value)
        return t, c, f, s

    runs.change(pick, runs, [table, chart, csv, status], **private)
