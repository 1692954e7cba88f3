"""`audiorag delete EPISODE…`: asks first on a terminal, refuses without `--yes` elsewhere (rag.library)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("episodes", nargs="+", metavar="EPISODE", help="episode id (or unique prefix) or title")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def run(args: argparse.Namespace) -> int:
    from rag.cli import find_episode
    from rag.library import delete_episode
    from rag.store import Store

    store = Store()
    failed = 0
    for ref in args.episodes:
        ep = find_episode(store, ref)
        if ep is None:
            failed += 1
            continue
        if not args.yes:
            if not sys.stdin.isatty():
                print("error: refusing to delete without confirmation; pass --yes", file=sys.stderr)
                return 2
            if input(f"delete '{ep.title}' ({ep.id[:12]})? [y/N] ").strip().lower() not in ("y", "yes"):
                continue
        delete_episode(store, ep.id)
        print(f"deleted {ep.id[:12]} {ep.title}")
    return 1 if failed else 0
