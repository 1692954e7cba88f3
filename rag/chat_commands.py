"""`audiorag chats list|export|rename|delete`: the conversations kept in the library (rag.chats), and the answer
settings flags shared by `audiorag ask` and `audiorag chat`."""

from __future__ import annotations

import argparse
import sys


def add_answer_options(p: argparse.ArgumentParser) -> None:
    """The answer settings (rag.schema.AnswerSettings) as flags; unset ones keep the defaults (or, with
    `chat --resume`, the conversation's own)."""
    g = p.add_argument_group("answer settings")
    g.add_argument("--temperature", type=float, help="sampling temperature (default 0: greedy)")
    g.add_argument("--top-p", type=float, help="nucleus sampling (0: off)")
    g.add_argument("--top-k", type=int, help="top-k sampling (0: off)")
    g.add_argument("--max-tokens", type=int, help="tokens the model may write for its part (default 80)")
    g.add_argument("--system-prompt", help="replace the answer prompt's instructions")
    g.add_argument("--answer-model", help="the LLM that writes answers (pack name, folder or hub id)")


def answer_settings(args: argparse.Namespace, base=None):
    """AnswerSettings from the flags over `base` (a conversation's settings, or the defaults)."""
    from pydantic import ValidationError

    from rag.models import ModelError
    from rag.schema import AnswerSettings

    base = base or AnswerSettings()
    flags = {"mode": getattr(args, "mode", None), "k": getattr(args, "k", None),
             "temperature": args.temperature, "top_p": args.top_p, "top_k": args.top_k,
             "max_tokens": args.max_tokens, "system_prompt": args.system_prompt, "model": args.answer_model}
    try:
        return AnswerSettings.model_validate({**base.model_dump(), **{k: v for k, v in flags.items() if v is not None}})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ModelError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None


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


def run(args: argparse.Namespace) -> int:
    from rag.chats import Chats, export, file_play_url
    from rag.cli import emit, print_json
    from rag.store import Store

    store = Store()
    chats = Chats(store)
    if args.chats_command == "list":
        convs = chats.list()
        if args.json:
            print_json([{"id": c.id, "title": c.title, "created": c.created.isoformat(),
                         "updated": c.updated.isoformat(), "questions": len(c.turns), "episode": c.episode}
                        for c in convs])
        elif not convs:
            print("no conversations yet (audiorag chat, or the app's Ask tab)", file=sys.stderr)
        for c in [] if args.json else convs:
            print(f"{c.id}  {c.updated:%Y-%m-%d %H:%M}  {len(c.turns):>3} question(s)  {c.title}")
        return 0
    if args.chats_command == "export":
        emit(export(chats.get(args.id), args.format, file_play_url(store)), args.output)
        return 0
    if args.chats_command == "rename":
        conv = chats.rename(args.id, args.title)
        print(f"renamed {conv.id} to {conv.title}")
        return 0
    conv = chats.delete(args.id)
    print(f"deleted {conv.id} {conv.title}")
    return 0
