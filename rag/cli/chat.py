"""`audiorag chat`: multi-turn questions about the library at a `you>` prompt, kept as a conversation
(rag.chats); readline history beside the library."""

from __future__ import annotations

import argparse
import sys

from rag.cli.options import ANSWER_MODES, add_answer_options


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--episode", "-e", help="only this episode (id, unique id prefix, or title)")
    p.add_argument("--mode", choices=ANSWER_MODES, help="see `audiorag ask --help`")
    p.add_argument("-k", type=int, help="passages to retrieve (default 5)")
    p.add_argument("--resume", metavar="ID", help="continue a stored conversation (audiorag chats list)")
    add_answer_options(p)


def _history_file():
    """Readline history beside the library (a local user state dir when the library is remote)."""
    from pathlib import Path

    from rag.settings import get_settings

    settings = get_settings()
    if settings.is_remote_store:
        from platformdirs import user_state_dir

        d = Path(user_state_dir("audiorag"))
    else:
        d = Path(settings.data_dir)
    d.mkdir(parents=True, exist_ok=True)
    return d / "chat_history"


def _readline(hist):
    try:
        import readline
    except ImportError:  # Windows
        return None
    try:
        readline.read_history_file(hist)
    except OSError:
        pass
    readline.set_history_length(1000)
    return readline


def _loop(chats, conv, scope, opts, readline):
    """Questions until /quit or Ctrl-D; the conversation asked last (None if none)."""
    from rag.chats import answer_turn
    from rag.cli.answers import fail, print_sources, stream_events
    from rag.search import SearchError

    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            print(file=sys.stderr)
            return conv
        if not line:
            continue
        if readline is not None and not sys.stdin.isatty():
            readline.add_history(line)  # a terminal's input() records it already
        if line in ("/quit", "/exit", "/q"):
            return conv
        if line == "/reset":
            conv = None
            print("(conversation cleared)", file=sys.stderr)
            continue
        if conv is None:
            conv = chats.new(line, scope.id if scope else None, opts)
        try:
            final, query = stream_events(answer_turn(chats, conv.id, line))
        except SearchError as exc:
            fail(exc)
            continue
        if query and query != line:
            print(f"(searched for: {query})", file=sys.stderr)
        if final is not None:
            print_sources(final)
        print()


def run(args: argparse.Namespace) -> int:
    from rag.chats import Chats
    from rag.cli.options import answer_settings
    from rag.store import Store

    hist = _history_file()
    readline = _readline(hist)
    chats = Chats(Store())
    conv = chats.get(args.resume) if args.resume else None
    if conv is not None:
        conv = chats.save(conv.model_copy(update={"settings": answer_settings(args, conv.settings)}))
        print(f"Resuming “{conv.title}” ({len(conv.turns)} question(s) so far).", file=sys.stderr)
    opts = conv.settings if conv is not None else answer_settings(args)
    from rag.cli.options import check_adapter
    from rag.settings import get_settings

    check_adapter(get_settings(), opts)
    from rag.cli import find_episode

    scope = find_episode(chats.store, args.episode) if args.episode else None
    if args.episode and scope is None:
        return 1
    print("Ask about your library. /reset starts a new conversation, /quit (or Ctrl-D) leaves.", file=sys.stderr)
    try:
        conv = _loop(chats, conv, scope, opts, readline)
        if conv is not None:
            print(f"(kept as conversation {conv.id}: audiorag chat --resume {conv.id})", file=sys.stderr)
    finally:
        if readline is not None:
            try:
                readline.write_history_file(hist)
            except OSError:
                pass
    return 0
