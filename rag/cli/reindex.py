"""`audiorag reindex [--diarize]`: every episode re-embedded with the configured model (rag.library)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--diarize", action="store_true", dest="add_speakers",
                   help="also label the speakers of episodes ingested without them (from their audio copies)")
    p.add_argument("--speakers", type=int, metavar="N", help="with --diarize: how many people speak, when known")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from rich.progress import track

    from rag.embed import get_embedder
    from rag.library import reindex_library
    from rag.store import Store

    store = Store()
    embedder = get_embedder()
    count, diarized = reindex_library(store, embedder, diarize=args.add_speakers,
                                      each=lambda eps: track(eps, description="reindexing", console=None))
    extra = f"; added speakers to {diarized}" if args.add_speakers else ""
    print(f"reindexed {count} episode(s) with {embedder.name}{extra}")
    return 0
