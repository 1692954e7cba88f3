"""`audiorag servers start|stop|status [NAME]`: the OpenAI-compatible servers this project uses (rag.servers)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rag.servers import DEFAULT_PORTS, KINDS

    p.add_argument("action", choices=("start", "stop", "status"))
    p.add_argument("name", nargs="?", choices=KINDS,
                   help="which server (status: all of them when omitted); ports by default: "
                        + ", ".join(f"{k} {v}" for k, v in DEFAULT_PORTS.items()))
    p.add_argument("--port", type=int, help="the port to listen on (start)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (start; default 127.0.0.1: this machine only)")
    p.add_argument("--model", help="what to serve (start; default: llm.model for mlx-lm, asr.model for "
                                   "faster-whisper, Voxtral Mini for vllm)")
    p.add_argument("--wait", type=float, default=300.0, help="seconds to wait for it to answer (start)")
    p.add_argument("--json", action="store_true", help="print the servers' state as JSON")


def run(args: argparse.Namespace) -> int:
    import sys

    from rag import servers
    from rag.errors import UserInputError
    from rag.settings import get_settings

    settings = get_settings()
    say = (lambda m: print(m, file=sys.stderr)) if args.json else print
    if args.action in ("start", "stop") and not args.name:
        raise UserInputError(f"say which server to {args.action}: {', '.join(servers.KINDS)}")
    if args.action == "start":
        found = [servers.start(settings, args.name, host=args.host, port=args.port, model=args.model,
                               wait_s=args.wait, progress=say)]
    elif args.action == "stop":
        if not servers.stop(settings, args.name, progress=say):
            say(f"{args.name} was not running")
        found = servers.status(settings, args.name)
    else:
        found = servers.status(settings, args.name)
    if args.json:
        from rag.cli import print_json

        print_json([s.to_dict() for s in found])
    else:
        for s in found:
            _show(s, started=args.action == "start")
    return 1 if args.action == "status" and args.name and not found[0].healthy else 0


def _show(s, started: bool) -> None:
    if not s.running:
        print(f"{s.name}: not running")
        return
    state = f"healthy ({s.latency_ms:g} ms)" if s.healthy else "running, not answering"
    print(f"{s.name}: {state} at {s.url} (pid {s.pid}, model {s.model}, log {s.log})")
    if started and s.settings:
        print("  to use it: " + " ".join(f"{k}={v}" for k, v in s.settings.items()))
