"""`audiorag bench [asr|embed|search|llm|ingest|ui|all] [--quick] [--under-load [N]] [--audio DIR] [--png PATH] [--json]`."""

from __future__ import annotations

import argparse
import math
import sys
import time


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rag.bench import BENCHES, OPTIONAL

    p.add_argument("benches", nargs="*", metavar="BENCH",
                   help=f"what to measure: {', '.join(BENCHES)} or all (default: all); also {', '.join(OPTIONAL)}")
    p.add_argument("--quick", action="store_true", help="a smaller audio set and fewer repetitions (under 10 min for all)")
    p.add_argument("--audio", metavar="DIR", help="ASR/ingest audio set (default: ../shared/audio/asr beside the checkout)")
    p.add_argument("--png", metavar="PATH", help="write the chart here (default: <data dir>/bench/bench-<run>.png)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    p.add_argument("--runs", action="store_true", help="list past runs from the history CSV instead of running")
    p.add_argument("--under-load", nargs="?", type=int, const=0, metavar="N",
                   help="run them again beside N busy processes (default: half the cores) and report the slowdowns")
    p.add_argument("--search-sizes", metavar="N,N,…", help="search table sizes (default 1000,10000,100000)")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from rag.bench import csv_location, list_runs, png_location, print_table, run_bench
    from rag.cli import print_json
    from rag.settings import get_settings

    settings = get_settings()
    err = Console(stderr=True)
    if args.runs:
        runs = list_runs(settings)
        if args.json:
            print_json(runs)
        else:
            from rag.table import show_table

            show_table(("run_id", "started", "benches", "rows", "quick", "errors", "png"),
                       ([r["run_id"], r["started"], ", ".join(r["benches"]), str(r["rows"]), str(r["quick"]),
                         str(r["errors"]), r["png"] or ""] for r in runs),
                       title=f"{len(runs)} benchmark run(s) in {csv_location(settings)}")
        return 0
    sizes = None
    if args.search_sizes:
        try:
            sizes = tuple(int(x) for x in args.search_sizes.split(",") if x.strip())
        except ValueError:
            print(f"error: --search-sizes wants numbers like 1000,10000 (got {args.search_sizes})", file=sys.stderr)
            return 2
    t0 = time.perf_counter()

    def progress(fraction: float | None, message: str) -> None:
        pct = "" if fraction is None else f"{100 * fraction:3.0f}% "
        err.print(f"[dim]{time.perf_counter() - t0:6.1f}s[/dim] {pct}{message}", highlight=False)

    try:
        rows = run_bench(args.benches or ["all"], quick=args.quick, progress=progress, settings=settings,
                         audio=args.audio, png=args.png, search_sizes=sizes, under_load=args.under_load,
                         asr_models=[args.asr_model] if getattr(args, "asr_model", None) else None)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:  # NaN (a failed bench's value) is not JSON: null
        print_json([{**r, "value": None if math.isnan(r["value"]) else r["value"]} for r in rows])
    else:
        print_table(rows)
    run_id = rows[0]["run_id"] if rows else ""
    err.print(f"{len(rows)} rows appended to {csv_location(settings)}; chart: {args.png or png_location(settings, run_id)}"
              f" ({time.perf_counter() - t0:.0f} s)")
    return 1 if any(r["metric"] == "error" for r in rows) else 0
