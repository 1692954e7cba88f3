"""`audiorag features [EPISODE]` and `audiorag run FEATURE EPISODE [QUESTION]` (rag.features)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("episode", nargs="?", help="check availability for this episode (id, unique prefix or title)")
    p.add_argument("--json", action="store_true", help="one JSON list: feature, provider, where, available, reason")


def run(args: argparse.Namespace) -> int:
    from rag.features import listing

    ep = None
    if args.episode:
        from rag.cli import find_episode
        from rag.store import Store

        ep = find_episode(Store(), args.episode)
        if ep is None:
            return 1
    rows = listing(_settings(), ep)
    if args.json:
        from rag.cli import print_json

        print_json(rows)
        return 0
    for r in rows:
        state = "available" if r["available"] else f"unavailable: {r['reason']}"
        print(f"{r['feature']}\t{r['provider']}\t{r['where']}\t{state}")
    return 0


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    from rag.features import FEATURES

    p.add_argument("feature", choices=list(FEATURES), help="what to do (audiorag features lists them)")
    p.add_argument("episode", help="episode id, unique prefix or title")
    p.add_argument("question", nargs="?", help="for 'question': what to ask")
    p.add_argument("--via", help="the provider to use (default: the first available, see audiorag features)")
    p.add_argument("--json", action="store_true", help="the result as JSON, with the provider and where it ran")


def run_feature(args: argparse.Namespace) -> int:
    from rag.features import run as run_it

    out = run_it(args.feature, args.episode, question=args.question, via=args.via, settings=_settings())
    if args.json:
        from rag.cli import print_json

        print_json(out)
        return 0
    print(out["result"].get("text") or "(nothing)")
    print(f"({out['feature']} by {out['provider']}, on {out['where']})")
    return 0


def _settings():
    from rag.settings import get_settings

    return get_settings()
