"""`audiorag export EPISODE`: an episode's transcript as srt, vtt, json, md, txt or rttm (rag.library)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("episode", help="episode id (or a unique prefix) or title")
    p.add_argument("--format", "-f", choices=["srt", "vtt", "json", "md", "txt", "rttm"], default="md")
    p.add_argument("--output", "-o", help="write here instead of stdout")


def run(args: argparse.Namespace) -> int:
    from rag.cli import emit, find_episode
    from rag.library import export_text
    from rag.store import Store

    store = Store()
    ep = find_episode(store, args.episode)
    if ep is None:
        return 1
    try:
        text = export_text(store, ep, args.format)
    except ValueError as exc:
        print(f"error: {str(exc)[:1].upper()}{str(exc)[1:]}", file=sys.stderr)
        return 1
    emit(text, args.output)
    return 0
