"""`audiorag list`: the episodes in the library, a table (or `--json`)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="include episodes still processing or failed")


def run(args: argparse.Namespace) -> int:
    from rag.schema import format_ts
    from rag.store import Store

    episodes = Store().list_episodes(include_incomplete=args.all)
    if args.json:
        from rag.cli import print_json

        print_json([
            {"id": e.id, "title": e.title, "source": e.source, "duration": e.duration, "status": e.status,
             "language": e.language, "tags": e.tags, "created": e.created.isoformat()}
            for e in episodes
        ])
        return 0
    from rag.table import show_table

    show_table(("id", "title", "duration", "language", "tags", "status", "source"),
               ([e.id[:12], e.title, format_ts(e.duration or 0), e.language or "", ", ".join(e.tags), e.status, e.source]
                for e in episodes), title=f"{len(episodes)} episode(s)")
    return 0
