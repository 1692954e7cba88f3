"""`audiorag audit`: the audit log (rag.audit): every call to a server and every deletion, newest first."""

from __future__ import annotations

import argparse

FIELDS = ("time", "what", "role", "host", "sent", "received", "status")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON list of the events")
    p.add_argument("--limit", type=int, default=50, help="the newest N events (default 50; 0: all)")


def run(args: argparse.Namespace) -> int:
    from rag.audit import audit_path, read
    from rag.settings import get_settings

    settings = get_settings()
    events = read(settings, limit=max(0, args.limit) or None)
    if args.json:
        from rag.cli import print_json

        print_json(events)
        return 0
    if not events:
        print(f"no events in {audit_path(settings)}")
        return 0
    for e in events:
        extra = " ".join(f"{k}={v}" for k, v in e.items() if k not in FIELDS)
        cols = [str(e.get("time", ""))[:19].replace("T", " "), str(e.get("what", "")), str(e.get("role", "")),
                str(e.get("host", "")), *(f"{e[k]}" for k in ("sent", "received") if k in e),
                str(e.get("status", "")), extra]
        print("\t".join(c for c in cols if c))
    return 0
