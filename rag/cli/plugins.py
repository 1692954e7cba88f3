"""`audiorag plugins`: the backends installed for each role, ours and other packages' (rag.plugins)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON list: role, name, target, source")


def run(args: argparse.Namespace) -> int:
    from rag.plugins import plugins

    found = plugins()
    if args.json:
        from rag.cli import print_json

        print_json([p.to_dict() for p in found])
        return 0
    for p in found:
        print(f"{p.role}\t{p.name}\t{p.target}\t{p.source}")
    return 0
