"""`audiorag vocab add WORD... [--episode ID]`, `vocab list [--json]`, `vocab remove WORD [--episode ID]`:
the names and terms the library spells as given (rag/vocab.py, docs/vocabulary.md)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="vocab_command", metavar="ACTION", required=True)
    a = sub.add_parser("add", help="add names or terms (quote a phrase: \"Rio Negro\")")
    a.add_argument("words", nargs="+", metavar="WORD")
    a.add_argument("--episode", metavar="ID", help="for one episode only (id, unique prefix or title)")
    ls = sub.add_parser("list", help="the library's entries, then each episode's")
    ls.add_argument("--episode", metavar="ID", help="only this episode's own entries")
    ls.add_argument("--json", action="store_true", help="print as JSON")
    r = sub.add_parser("remove", help="remove an entry (from every list, or from one episode's with --episode)")
    r.add_argument("word", metavar="WORD")
    r.add_argument("--episode", metavar="ID", help="only from this episode's list")
    from rag.cli import add_global_options

    for action in (a, ls, r):  # the settings flags after the action too: `vocab add Rollo --data-dir lib`
        own = {x.dest for x in action._actions}
        add_global_options(action)
        for x in action._actions:  # … without unsetting them when given before it (`vocab --data-dir lib add`)
            if x.dest not in own:
                x.default = argparse.SUPPRESS


def run(args: argparse.Namespace) -> int:
    from rag import vocab
    from rag.store import Store

    store = Store()
    if args.vocab_command == "add":
        added = vocab.add(store, args.words, args.episode)
        where = f"episode {added[0].episode_id[:12]}" if added[0].episode_id else "the library"
        print(f"added to {where}'s vocabulary: {', '.join(e.word for e in added)}", file=sys.stderr)
        print("new episodes are transcribed with it; `audiorag ingest --force FILE` redoes an old one "
              "(search finds its mis-hearings already)", file=sys.stderr)
        return 0
    if args.vocab_command == "remove":
        n = vocab.remove(store, args.word, args.episode)
        print(f"removed '{args.word}' ({n} entr{'y' if n == 1 else 'ies'})", file=sys.stderr)
        return 0
    found = vocab.entries(store, args.episode)
    if args.json:
        from rag.cli import print_json

        print_json([e.model_dump(mode="json") for e in found])
        return 0
    if not found:
        print("The vocabulary is empty: add a name with `audiorag vocab add NAME`.", file=sys.stderr)
        return 0
    for e in found:
        print(f"{e.word:32s} {('episode ' + e.episode_id[:12]) if e.episode_id else 'library'}")
    return 0
