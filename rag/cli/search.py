"""`audiorag search QUERY`: the best matching moments, with episode and time (rag.search)."""

from __future__ import annotations

import argparse
import sys

from rag.cli.options import add_speaker_option, parse_date


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help="what to look for (words or a question)")
    p.add_argument("--episode", "-e", help="only this episode (id, unique id prefix, or title)")
    p.add_argument("--tag", action="append", dest="tags", help="only episodes with this tag (repeatable)")
    p.add_argument("--since", type=parse_date, help="only episodes added on or after this date (YYYY-MM-DD)")
    p.add_argument("--until", type=parse_date, help="only episodes added before this date (YYYY-MM-DD)")
    p.add_argument("-k", type=int, default=5, help="how many results (default 5)")
    add_speaker_option(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args: argparse.Namespace) -> int:
    from rag.answerable import search_floor
    from rag.cli.answers import fail
    from rag.schema import citation_label, format_ts
    from rag.search import SearchError, search

    try:
        res = search(args.query, k=args.k, episode=args.episode, tags=args.tags, since=args.since, until=args.until,
                     speaker=args.speaker)
    except SearchError as exc:
        return fail(exc)
    strong, hits = search_floor(res)
    if args.json:
        from rag.cli import print_json

        print_json({"query": res.query, "strong": strong, "results": hits})
        return 0
    if not hits:
        print("no results", file=sys.stderr)
        return 0
    if not strong:
        print(f"No strong match for {res.query!r} in your library. The nearest passages, weak:")
    for i, p in enumerate(hits, 1):
        weak = "  (weak)" if p.get("weak") else ""
        label = citation_label(p["title"], p["start"], p.get("speaker"))
        print(f"{i}. {label}  {format_ts(p['start'])}–{format_ts(p['end'])}  "
              f"score {p['score']:.2f}{weak}  ({p['episode_id'][:12]})")
        print(f"   {p['text']}")
    return 0
