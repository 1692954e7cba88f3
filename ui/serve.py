"""`audiorag serve`: the web app on this machine.

Bound to 127.0.0.1 unless --host says otherwise; no Gradio share tunnel is offered (the library stays local).
`--auth user:pass` (or AUDIORAG_AUTH, which keeps the password out of `ps`) puts a login in front of the page,
the files and the API alike.
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must look like user:password")
    return user, password


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for the network)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth", metavar="USER:PASS", default=None,
                   help="require this login (default: $AUDIORAG_AUTH if set, else no login)")
    p.add_argument("--concurrency", type=int, default=4,
                   help="requests served at once for light work; model work always runs one at a time")


def run(args: argparse.Namespace) -> int:
    try:
        auth = parse_auth(args.auth or os.environ.get("AUDIORAG_AUTH"))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from rag.settings import get_settings
    from ui.app import build_app, launch
    from ui.guard import login_for

    auth, made_up = login_for(args.host, auth)
    if made_up:
        print(f"audiorag: serving on {args.host}, beyond this machine, so a login is required: user "
              f"{auth[0]!r}, password {auth[1]!r} (this install's token; or choose one with --auth)",
              file=sys.stderr)
    settings = get_settings()
    print(f"audiorag: library {settings.data_dir}; starting on http://{args.host}:{args.port}"
          + (" (login required)" if auth else ""), file=sys.stderr, flush=True)
    demo = build_app(settings)
    launch(demo, host=args.host, port=args.port, auth=auth, concurrency=args.concurrency)
    return 0
