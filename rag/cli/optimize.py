"""`audiorag optimize`: finish interrupted deletes, sweep orphans, compact, prune old versions; say what it freed."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keep-versions", type=int, help="versions of each table to keep (default: the keep_versions setting)")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from rag.optimize import describe, optimize_library
    from rag.store import Store

    report = optimize_library(Store(), keep_versions=args.keep_versions)
    if args.json:
        from rag.cli import print_json

        print_json(report)
    else:
        print(describe(report))
    return 0
