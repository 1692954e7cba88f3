"""`audiorag ingest PATH…`: a progress bar per file on stderr, then a summary table (or `--json`); the work is
ingest.pipeline's."""

from __future__ import annotations

import argparse
import sys

from rag.cli.options import add_diarize_options


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio/video files, transcripts (json/srt/vtt/txt) or folders")
    p.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument("--enhance", action="store_true", help="let the LLM clean punctuation, casing and fillers (timestamps kept)")
    p.add_argument("--language", help="spoken language code (default: detect)")
    p.add_argument("--force", action="store_true", help="process again even if unchanged")
    add_diarize_options(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def _ingest_all(items, skipped, args, console) -> list:
    """Every item through the pipeline, a line each as it finishes; the library optimized once if any changed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from ingest.pipeline import Pipeline

    results = list(skipped)
    pipe = Pipeline()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False, disable=args.json and not console.is_terminal) as progress:
        overall = progress.add_task("all files", total=len(items))
        current = progress.add_task("", total=100)
        for i, item in enumerate(items, 1):
            name = item.path.name
            progress.update(current, completed=0, description=f"[{i}/{len(items)}] {name}: starting")

            def on_stage(stage: str, frac: float, _name=name, _i=i) -> None:
                progress.update(current, completed=int(frac * 100), description=f"[{_i}/{len(items)}] {_name}: {stage}")

            res = pipe.ingest_item(item, enhance=args.enhance, language=args.language, on_stage=on_stage, force=args.force)
            results.append(res)
            style = {"ingested": "green", "unchanged": "cyan", "failed": "red"}.get(res.status, "yellow")
            line = Text(f"{res.status:9}", style=style) + f" {item.path}"
            told = res.reason and res.status in ("failed", "ingested")  # why it failed, or what was wrong (truncated)
            line += f" — {res.reason}" if told else ""
            progress.console.print(line, soft_wrap=True)  # a path whole on one line, also when stderr is piped
            progress.advance(overall)
        progress.update(current, visible=False)
        for r in skipped:  # every entry gets its line (never wrapped); last, as a sidecar's fate is known only now
            progress.console.print(Text("skipped  ", style="yellow") + f" {r.path} — {r.reason}", soft_wrap=True)
    if any(r.status == "ingested" for r in results):
        from rag.optimize import optimize_library

        optimize_library(pipe.store)
    return results


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ingest.pipeline import collect

    console = Console(stderr=True)
    items, skipped = collect(args.paths, recursive=args.recursive)
    if not items and not skipped:
        console.print("nothing to ingest")
        return 1
    results = _ingest_all(items, skipped, args, console)
    counts = {s: sum(r.status == s for r in results) for s in ("ingested", "unchanged", "skipped", "failed")}
    if args.json:
        from rag.cli import print_json

        print_json({"counts": counts, "results": [r.to_dict() for r in results]})
    else:
        from rag.table import show_table

        show_table(("status", "file", "episode", "duration", "seconds", "reason"),
                   ([r.status, r.path, (r.episode_id or "")[:12], f"{r.duration:.1f}s" if r.duration else "",
                     f"{r.seconds:.1f}", r.reason or ""] for r in results), title="ingest summary")
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        if counts["ingested"] == 0 and counts["failed"] == 0:
            summary += " — nothing changed"
        print(summary)
    if counts["failed"]:
        print(f"error: {counts['failed']} file(s) failed:", file=sys.stderr)
        for r in results:
            if r.status == "failed":
                print(f"  {r.path}: {r.reason}", file=sys.stderr)
        return 1
    return 0
