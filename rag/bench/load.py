"""`audiorag bench … --under-load`: the same benchmarks again beside a deliberate, bounded CPU load.

Method:
- The burner: `n` processes (default: half the usable cores, at least one; on 2 cores one process, "a browser and
  a build running" on a laptop) that each spin on integer arithmetic at normal priority. The bench starts them,
  waits a second for them to be on the cores, runs the benchmarks, and stops them. Each one also stops by itself
  when its parent is gone or after `MAX_S`, so a killed bench leaves no load behind.
- Order: every named bench runs quiet first, then under load, in one run (same models, same files).
- Rows: the loaded run's rows carry `under_load:<metric>` (notes: how many burners, the load average). For each
  time or rate both runs measured, `slowdown:<metric>` is loaded/quiet for times (s, ms) and quiet/loaded for rates
  (…/s): how many times slower the loaded run was. Issue 14's line is slowdown ≤ 2 for answer TTFT and embedding.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time

MAX_S = 3600.0  # a burner never outlives an hour, whatever happens to the bench
LOADED = "under_load:"
SLOWDOWN = "slowdown:"
NOT_SPEEDS = ("wall_s", "load_s")  # the whole bench's time; a model load (cached in this process by the second run)


def default_burners() -> int:
    from rag.runtime import usable_cores

    return max(1, usable_cores() // 2)


def _spin(stop, parent: int, max_s: float) -> None:
    end = time.monotonic() + max_s
    x = 0
    while not stop.is_set() and time.monotonic() < end and os.getppid() == parent:
        for i in range(200_000):
            x ^= i * i


class Burner:
    """`with Burner(n):` — n busy processes for the duration of the block (see the module docstring)."""

    def __init__(self, n: int | None = None, max_s: float = MAX_S) -> None:
        self.n = default_burners() if n is None else max(1, int(n))
        self.max_s = max_s
        self._ctx = mp.get_context("spawn")  # no copy of this process's models and threads
        self._stop = self._ctx.Event()
        self._procs: list = []

    def __enter__(self) -> "Burner":
        self._procs = [self._ctx.Process(target=_spin, args=(self._stop, os.getpid(), self.max_s), daemon=True,
                                         name=f"audiorag-bench-burner-{i}") for i in range(self.n)]
        for p in self._procs:
            p.start()
        time.sleep(1.0)  # on the cores, and seen by rag.runtime's free-core sampler
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for p in self._procs:
            p.join(5)
            if p.is_alive():
                p.kill()
        self._procs = []

    @property
    def alive(self) -> int:
        return sum(p.is_alive() for p in self._procs)


def _is_time(unit: str) -> bool:
    return unit in ("s", "ms")


def _is_rate(unit: str) -> bool:
    return unit.endswith("/s")


def mark_loaded(rows: list[dict], burners: int, load: str) -> list[dict]:
    """The loaded run's rows, renamed `under_load:<metric>` (wall_s included; an `error` row keeps its name, so
    every reader of errors sees it) with the load noted."""
    note = f"under load: {burners} busy process(es){load}"
    return [{**r, "metric": r["metric"] if r["metric"] == "error" else LOADED + r["metric"],
             "notes": f"{r['notes']}; {note}" if r["notes"] else note} for r in rows]


def slowdowns(quiet: list[dict], loaded: list[dict], ctx) -> list[dict]:
    """`slowdown:<metric>` rows for every time or rate measured in both runs (same bench, backend, model)."""
    before = {(r["bench"], r["backend"], r["model"], r["metric"]): r for r in quiet}
    out = []
    for r in loaded:
        if not r["metric"].startswith(LOADED):
            continue
        metric = r["metric"][len(LOADED):]
        q = before.get((r["bench"], r["backend"], r["model"], metric))
        if q is None or metric in NOT_SPEEDS or not (_is_time(r["unit"]) or _is_rate(r["unit"])):
            continue
        a, b = float(q["value"]), float(r["value"])
        if not (a > 0 and b > 0):
            continue
        ratio = b / a if _is_time(r["unit"]) else a / b
        out.append(ctx.row(r["bench"], SLOWDOWN + metric, ratio, "×", r["backend"], r["model"],
                           f"loaded {b:.4g} vs quiet {a:.4g} {r['unit']}; > 1: slower under load"))
    return out
