"""`audiorag corrections export [--out FILE]`: every transcript correction as JSONL (rag/corrections.py)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="corrections_command", metavar="ACTION", required=True)
    e = sub.add_parser("export", help="one JSON line per corrected segment: episode_id, title, segment_id, start, "
                                      "end, heard (the original), corrected")
    e.add_argument("--out", "-o", metavar="FILE", help="write to FILE (default: stdout)")
    from rag.cli import add_global_options

    own = {x.dest for x in e._actions}
    add_global_options(e)  # `corrections export --data-dir lib` as well as `corrections --data-dir lib export`
    for x in e._actions:
        if x.dest not in own:
            x.default = argparse.SUPPRESS


def run(args: argparse.Namespace) -> int:
    from rag.cli import emit
    from rag.corrections import corrections, to_jsonl
    from rag.store import Store

    rows = list(corrections(Store()))
    emit(to_jsonl(rows), args.out)
    print(f"{len(rows)} correction{'' if len(rows) == 1 else 's'}"
          + ("" if rows else " (edit a transcript line in the app's Episode view to make one)"), file=sys.stderr)
    return 0
