"""How `audiorag ask` and `audiorag chat` show an answer: its tokens as they arrive, then the sources it does not
show already."""

from __future__ import annotations

import sys

from rag.schema import format_ts, unshown


def fail(exc: Exception | str) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 1


def print_sources(answer, out=None) -> None:
    """The cited moments the answer text does not show already (each moment's link appears once)."""
    out = out or sys.stdout  # looked up now: sys.stdout may have been replaced since import
    rest = unshown(answer.answer, answer.citations)
    if not rest or answer.abstained:
        return
    print("\nSources:", file=out)
    for i, c in enumerate(rest, 1):
        print(f"  {i}. {c.label}  {c.episode_id[:12]} {format_ts(c.start)}–{format_ts(c.end)}", file=out)


def stream_events(events, out=None):
    """Print answer tokens as they arrive; return (final Answer, standalone query)."""
    out = out or sys.stdout
    final, query = None, None
    for ev in events:
        if ev["type"] == "token":
            out.write(ev["text"])
            out.flush()
        elif ev["type"] == "query":
            query = ev["text"]
        elif ev["type"] == "warning":
            print(f"warning: {ev['text']}", file=sys.stderr)
        elif ev["type"] == "final":
            final = ev["answer"]
    out.write("\n")
    return final, query
