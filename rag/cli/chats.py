"""`audiorag chats list|export|rename|delete`: the conversations kept in the library (rag.chats)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="chats_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="conversations, most recent first")
    ls.add_argument("--json", action="store_true")
    ex = sub.add_parser("export", help="write a conversation as Markdown or JSON, citations included")
    ex.add_argument("id", help="conversation id (or a unique prefix)")
    ex.add_argument("--format", "-f", choices=["md", "json"], default="md")
    ex.add_argument("--output", "-o", help="write here instead of stdout")
    rn = sub.add_parser("rename", help="give a conversation a new title")
    rn.add_argument("id")
    rn.add_argument("title")
    rm = sub.add_parser("delete", help="delete a conversation")
    rm.add_argument("id")


def _list(chats, as_json: bool) -> None:
    convs = chats.list()
    if as_json:
        from rag.cli import print_json

        print_json([{"id": c.id, "title": c.title, "created": c.created.isoformat(),
                     "updated": c.updated.isoformat(), "questions": len(c.turns), "episode": c.episode}
                    for c in convs])
        return
    if not convs:
        print("no conversations yet (audiorag chat, or the app's Ask tab)", file=sys.stderr)
    for c in convs:
        print(f"{c.id}  {c.updated:%Y-%m-%d %H:%M}  {len(c.turns):>3} question(s)  {c.title}")


def run(args: argparse.Namespace) -> int:
    from rag.chats import Chats, export, file_play_url
    from rag.cli import emit
    from rag.store import Store

    store = Store()
    chats = Chats(store)
    if args.chats_command == "list":
        _list(chats, args.json)
    elif args.chats_command == "export":
        emit(export(chats.get(args.id), args.format, file_play_url(store)), args.output)
    elif args.chats_command == "rename":
        conv = chats.rename(args.id, args.title)
        print(f"renamed {conv.id} to {conv.title}")
    else:
        conv = chats.delete(args.id)
        print(f"deleted {conv.id} {conv.title}")
    return 0
