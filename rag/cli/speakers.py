"""`audiorag speakers EPISODE [--rename S1=Diane] [--accept] [--json]` and `audiorag speakers --profiles`: the
speakers and voices of rag.voices."""

from __future__ import annotations

import argparse
import sys

from rag.schema import format_ts


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("episode", nargs="?", help="episode id (or a unique prefix) or title")
    p.add_argument("--rename", action="append", default=[], metavar="S1=NAME",
                   help="name a speaker (its label or current name = the new name); repeatable, or S1=A,S2=B")
    p.add_argument("--accept", action="store_true", help="apply the proposed names (voices known from other episodes)")
    p.add_argument("--profiles", action="store_true", help="list the voices known across episodes")
    p.add_argument("--json", action="store_true", help="print as JSON")


def _profiles(store, as_json: bool) -> int:
    from rag.voices import profiles

    known = [{k: v for k, v in p.items() if k != "vector"} for p in profiles(store)]
    if as_json:
        from rag.cli import print_json

        print_json(known)
        return 0
    if not known:
        print("No named voices yet: name one with `audiorag speakers EPISODE --rename S1=Name`.", file=sys.stderr)
        return 0
    for p in known:
        print(f"{p['name']:24s} {len(p['episodes'])} episode(s), {format_ts(p['seconds'])} of speech")
    return 0


def _show(ep, rows: list[dict]) -> None:
    if not rows:
        print(f"{ep.title}: no speakers (ingest with --diarize on, or `audiorag reindex --diarize`)")
        return
    print(f"{ep.title} ({ep.id[:12]}):")
    for r in rows:
        talk = f"{format_ts(r['seconds'])} of speech" if r["seconds"] is not None else ""
        hint = (f"  — sounds like {r['proposed']['name']} ({r['proposed']['similarity']:.2f}); --accept to apply"
                if r["proposed"] else "")
        print(f"  {r['id'] or '':4s} {r['name']:24s} {talk}{hint}")


def run(args: argparse.Namespace) -> int:
    from rag.cli import find_episode
    from rag.store import Store
    from rag.voices import RenameError, parse_renames, proposals, rename, speaker_rows

    store = Store()
    if args.profiles:
        return _profiles(store, args.json)
    if not args.episode:
        print("error: give an EPISODE (or --profiles)", file=sys.stderr)
        return 2
    ep = find_episode(store, args.episode)
    if ep is None:
        return 1
    try:
        renames = parse_renames(args.rename)
        if args.accept:
            renames = {label: p["name"] for label, p in proposals(store, ep.id).items()} | renames
        if renames:
            rename(store, ep.id, renames)
    except RenameError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = speaker_rows(store, ep.id)
    if args.json:
        from rag.cli import print_json

        print_json({"episode_id": ep.id, "title": ep.title, "speakers": rows})
        return 0
    _show(ep, rows)
    return 0
