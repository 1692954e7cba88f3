"""The plumbing every benchmark shares: one row format, the CSV history, machine and version facts, percentiles,
peak memory, WER, the printed table and the PNG chart.

A row is a plain dict with the CSV's columns (`COLUMNS`). Every row of one run carries the same `run_id`,
`machine` and `versions`, so runs on different machines or library versions can be told apart later. The
history lives in `<data dir>/bench/bench.csv` and only ever grows: a run appends, nothing rewrites old rows.
`audiorag eval` writes its results with the same `Ctx.row` + `append_rows`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import platform
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

COLUMNS = ["timestamp", "run_id", "machine", "versions", "backend", "model", "bench", "metric", "value", "unit", "notes"]
CSV_NAME = "bench.csv"
# (fraction of the whole run done or None, message): gradio's gr.Progress() can be passed as it is.
Progress = Callable[[float | None, str], None]

# Distributions whose versions change the numbers.
VERSIONED = ["mlx-audio-rag", "mlx", "mlx-lm", "mlx-whisper", "mlx-embeddings", "faster-whisper", "ctranslate2",
             "lancedb", "numpy", "transformers"]


def _quiet(_fraction: float | None, _message: str) -> None:
    return None


@dataclass
class Ctx:
    """What one benchmark run needs: settings, mode, where the audio is, and how to report progress."""

    settings: Any
    quick: bool = True
    audio_dir: Path | None = None
    progress: Progress = _quiet
    run_id: str = field(default_factory=lambda: new_run_id())
    search_sizes: tuple[int, ...] | None = None  # override the search bench's table sizes (tests use small ones)
    asr_files: int | None = None  # at most this many audio files in the ASR bench (tests use 1)
    asr_models: list[str] | None = None  # only these ASR models (default: every pulled pack + the configured one)
    span: tuple[float, float] = (0.0, 1.0)  # the part of the whole run's progress bar this bench owns
    _machine: str = ""
    _versions: str = ""

    def __post_init__(self) -> None:
        self._machine = self._machine or machine_label()
        self._versions = self._versions or versions_label()

    def say(self, message: str, fraction: float | None = None) -> None:
        """Report progress; `fraction` is how far this bench is (0..1), mapped into the run's span."""
        lo, hi = self.span
        self.progress(None if fraction is None else lo + (hi - lo) * max(0.0, min(1.0, fraction)), message)

    def row(self, bench: str, metric: str, value: float, unit: str, backend: str = "", model: str = "",
            notes: str = "") -> dict:
        return {
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "run_id": self.run_id,
            "machine": self._machine,
            "versions": self._versions,
            "backend": backend,
            "model": model,
            "bench": bench,
            "metric": metric,
            "value": float(value),
            "unit": unit,
            "notes": notes,
        }


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


# -- machine and versions -----------------------------------------------------------------------------------------
def cpu_model() -> str:
    if sys.platform == "linux":
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
    if sys.platform == "darwin":
        import subprocess

        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5)
            if out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def ram_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return float("nan")


def machine_info() -> dict:
    return {
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 0,
        "ram_gb": round(ram_gb(), 1),
        "python": platform.python_version(),
    }


def machine_label() -> str:
    m = machine_info()
    return f"{m['os']} {m['arch']}; {m['cpu']}; {m['cores']} cores; {m['ram_gb']:.0f} GB RAM"


def versions_label() -> str:
    import importlib.metadata as md

    parts = []
    for dist in VERSIONED:
        try:
            parts.append(f"{dist.replace('mlx-audio-rag', 'audiorag')} {md.version(dist)}")
        except md.PackageNotFoundError:
            continue
    from rag.runtime import blas_num_threads, blas_status

    blas = blas_status()[0]  # `import rag` preloaded it
    # the thread count matters a lot when other processes share the cores
    parts.append(f"blas {Path(blas).name if blas else 'reference'}" + (f" ({blas_num_threads()} threads)" if blas else ""))
    return "; ".join(parts)


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


# -- measuring ----------------------------------------------------------------------------------------------------
def percentile(values: Iterable[float], q: float) -> float:
    import numpy as np

    vals = list(values)
    return float(np.percentile(vals, q)) if vals else float("nan")


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 1e6
    except ImportError:
        pass
    status = _proc_status()
    if "VmRSS" in status:
        return status["VmRSS"]
    import resource

    return _maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _maxrss_mb(raw: int) -> float:
    return raw / 1e6 if sys.platform == "darwin" else raw / 1e3  # bytes on macOS, KiB on Linux


def _proc_status() -> dict[str, float]:
    """VmRSS / VmHWM from /proc/self/status in MB (Linux), else {}."""
    out: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = float(rest.split()[0]) * 1024 / 1e6  # kB → MB
    except (OSError, ValueError, IndexError):
        pass
    return out


class PeakMemory:
    """Peak resident memory while a block runs, as growth over the resident memory at its start (MB).

    Linux lets a process reset its high-water mark (`echo 5 > /proc/self/clear_refs`), so the peak is the block's
    own even after earlier benchmarks; elsewhere the lifetime `ru_maxrss` is used (an upper bound on the block's
    own peak only when the block is the largest thing the process did — the note says which method was used)."""

    def __enter__(self) -> "PeakMemory":
        self.start = rss_mb()
        self.method = "ru_maxrss (lifetime peak)"
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.method = "VmHWM after clear_refs"
        except OSError:
            pass
        self.peak = self.start
        return self

    def __exit__(self, *exc) -> None:
        status = _proc_status()
        if self.method.startswith("VmHWM") and "VmHWM" in status:
            self.peak = status["VmHWM"]
        else:
            import resource

            self.peak = _maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

    @property
    def delta_mb(self) -> float:
        return max(0.0, self.peak - self.start)


# -- WER: rag.textnorm (shared with eval and the tests) ----------------------------------------------------------
from rag.textnorm import normalize_text, number_to_words, wer, word_errors  # noqa: E402,F401


# -- the CSV history ----------------------------------------------------------------------------------------------
def csv_location(settings) -> str:
    return settings.data_path("bench", CSV_NAME)


def png_location(settings, run_id: str) -> str:
    return settings.data_path("bench", f"bench-{run_id}.png")


def _read_text(location: str, settings) -> str | None:
    if "://" in location:
        from rag.storage import _fs

        fs, path = _fs(location, settings)
        from pyarrow import fs as pafs

        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            return None
        with fs.open_input_stream(path) as f:
            return f.read().decode("utf-8")
    p = Path(location)
    return p.read_text(encoding="utf-8") if p.exists() else None


def _write_bytes(location: str, data: bytes, settings) -> None:
    if "://" in location:
        from rag.storage import _fs

        fs, path = _fs(location, settings)
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(path) as f:
            f.write(data)
        return
    p = Path(location)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(p)


def _format_value(value: Any, digits: int = 6) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "nan"
    return f"{v:.{digits}g}"


def append_rows(rows: list[dict], settings) -> str:
    """Append rows to the history CSV (header written when the file is new). Returns its location."""
    location = csv_location(settings)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    existing = _read_text(location, settings)
    if not existing:
        writer.writeheader()
    for r in rows:
        writer.writerow({**r, "value": _format_value(r.get("value"))})
    if "://" in location:  # object stores have no append: rewrite the whole (small) file
        _write_bytes(location, ((existing or "") + buf.getvalue()).encode("utf-8"), settings)
    else:
        p = Path(location)
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "a", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
    return location


def load_csv(settings=None) -> list[dict]:
    """Every row of the history, oldest first, with `value` as a float."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    text = _read_text(csv_location(settings), settings)
    if not text:
        return []
    rows = []
    for r in csv.DictReader(io.StringIO(text)):
        try:
            r["value"] = float(r.get("value") or "nan")
        except ValueError:
            r["value"] = float("nan")
        rows.append(r)
    return rows


def list_runs(settings=None) -> list[dict]:
    """One summary per run, newest first: run_id, started, machine, benches, rows, quick, png (or None)."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    runs: dict[str, dict] = {}
    for r in load_csv(settings):
        s = runs.setdefault(r["run_id"], {"run_id": r["run_id"], "started": r["timestamp"], "machine": r["machine"],
                                          "versions": r["versions"], "benches": [], "rows": 0, "quick": False,
                                          "errors": 0})
        s["rows"] += 1
        s["started"] = min(s["started"], r["timestamp"])
        if r["bench"] not in s["benches"]:
            s["benches"].append(r["bench"])
        if r["metric"] == "wall_s" and "quick" in r.get("notes", ""):
            s["quick"] = True
        if r["metric"] == "error":
            s["errors"] += 1
    for s in runs.values():
        png = png_location(settings, s["run_id"])
        s["png"] = png if "://" in png or Path(png).exists() else None
    return sorted(runs.values(), key=lambda s: s["started"], reverse=True)


def rows_of_run(run_id: str, settings=None) -> list[dict]:
    return [r for r in load_csv(settings) if r["run_id"] == run_id]


# -- output -------------------------------------------------------------------------------------------------------
def print_table(rows: list[dict]) -> None:
    from rag.table import show_table

    if not rows:
        print("no benchmark rows")
        return
    show_table(("bench", "backend", "model", "metric", "value", "unit", "notes"),
               ([r["bench"], r["backend"], r["model"], r["metric"], _format_value(r["value"], 4), r["unit"], r["notes"]]
                for r in rows), title=f"benchmark run {rows[0]['run_id']}", caption=f"{rows[0]['machine']}",
               right=("value",))


def make_png(rows: list[dict], path: str | Path, settings=None) -> str:
    """Draw one panel per benchmark present in `rows` and save a PNG at `path` (a local path or, with settings, a
    location in the data dir). Returns the location written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rag.bench import charts

    panels = [(name, fn) for name, fn in charts.PANELS if any(r["bench"] == name and r["metric"] != "error" for r in rows)]
    if not panels:
        panels = [("empty", charts.empty)]
    ncols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(7.5 * ncols, 4.2 * nrows), squeeze=False)
    for ax, (name, fn) in zip(axes.flat, panels):
        fn(ax, [r for r in rows if r["bench"] == name and r["metric"] != "error"])
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    if rows:
        fig.suptitle(f"audiorag bench {rows[0]['run_id']}\n{rows[0]['machine']}", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    location = str(path)
    if settings is not None and "://" in location:
        _write_bytes(location, buf.getvalue(), settings)
    else:
        p = Path(location)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(buf.getvalue())
    return location
