"""`audiorag ingest` and `audiorag transcribe`."""

from __future__ import annotations

import argparse
import sys


def add_ingest(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio/video files, transcripts (json/srt/vtt/txt) or folders")
    p.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument("--enhance", action="store_true", help="let the LLM clean punctuation, casing and fillers (timestamps kept)")
    p.add_argument("--language", help="spoken language code (default: detect)")
    p.add_argument("--force", action="store_true", help="process again even if unchanged")
    add_diarize_options(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def add_diarize_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--diarize", choices=["auto", "on", "off"],
                   help="label speakers: auto (default: when the engine is installed, counting the voices), on, off")
    p.add_argument("--speakers", type=int, metavar="N", help="how many people speak, when known")


def run_ingest(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from ingest.pipeline import Pipeline, collect

    console = Console(stderr=True)
    items, skipped = collect(args.paths, recursive=args.recursive)
    results = list(skipped)
    if not items and not skipped:
        console.print("nothing to ingest")
        return 1
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


def add_transcribe(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="audio or video file")
    p.add_argument("--format", "-f", choices=["json", "srt", "vtt", "txt"], default="txt")
    p.add_argument("--output", "-o", help="write here instead of stdout")
    p.add_argument("--language", help="spoken language code (default: detect)")
    p.add_argument("--enhance", action="store_true", help="let the LLM clean punctuation, casing and fillers")
    add_diarize_options(p)


def run_transcribe(args: argparse.Namespace) -> int:
    """The whisper-cli job. Errors (a bad file, an impossible ASR result) are one line, exit 1; a truncated
    recording is transcribed, with one warning line saying so."""
    from pathlib import Path

    from ingest.decode import DecodeError, decode_noted
    from ingest.writers import get_writer
    from rag.errors import display
    from rag.schema import InvalidTranscript, validate_transcript

    try:
        audio, note = decode_noted(Path(args.file))
    except DecodeError as exc:
        print(f"error: {display(exc)}", file=sys.stderr)
        return 1
    if note:
        print(f"warning: {Path(args.file).name}: {note}", file=sys.stderr)
    from ingest.asr import get_asr
    from ingest.normalize import normalize_transcript

    print(f"transcribing {args.file} ({len(audio) / 16000:.1f} s)…", file=sys.stderr)
    transcript = get_asr().transcribe(audio, language=args.language, word_timestamps=True)
    from ingest.segment import resegment

    try:
        transcript = validate_transcript(resegment(transcript, audio), len(audio) / 16000)
    except InvalidTranscript as exc:
        print(f"error: {Path(args.file).name}: {'no speech found' if not transcript.text else exc}", file=sys.stderr)
        return 1
    from ingest.speakers import diarize_transcript

    transcript, _ = diarize_transcript(transcript, audio)
    transcript = normalize_transcript(transcript)
    if args.enhance:
        from ingest.enhance import enhance_transcript

        transcript = enhance_transcript(transcript).transcript
    text = get_writer(args.format).write(transcript)
    from rag.cli import emit

    emit(text, args.output)
    return 0
