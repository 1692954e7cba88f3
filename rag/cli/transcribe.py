"""`audiorag transcribe FILE`: the whisper-cli job, one file to txt, srt, vtt or json (ingest.transcribe)."""

from __future__ import annotations

import argparse
import sys

from rag.cli.options import add_diarize_options


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="audio or video file")
    p.add_argument("--format", "-f", choices=["json", "srt", "vtt", "txt"], default="txt")
    p.add_argument("--output", "-o", help="write here instead of stdout")
    p.add_argument("--language", help="spoken language code (default: detect)")
    p.add_argument("--enhance", action="store_true", help="let the LLM clean punctuation, casing and fillers")
    add_diarize_options(p)


def run(args: argparse.Namespace) -> int:
    """Errors (a bad file, an impossible ASR result) are one line, exit 1; a truncated recording is transcribed,
    with one warning line saying so."""
    from pathlib import Path

    from ingest.decode import SAMPLE_RATE, DecodeError, decode_noted
    from ingest.transcribe import transcribe_audio
    from ingest.writers import get_writer
    from rag.cli import emit
    from rag.errors import display
    from rag.schema import InvalidTranscript

    try:
        audio, note = decode_noted(Path(args.file))
    except DecodeError as exc:
        print(f"error: {display(exc)}", file=sys.stderr)
        return 1
    if note:
        print(f"warning: {Path(args.file).name}: {note}", file=sys.stderr)
    print(f"transcribing {args.file} ({len(audio) / SAMPLE_RATE:.1f} s)…", file=sys.stderr)
    try:
        transcript = transcribe_audio(audio, language=args.language, enhance=args.enhance)
    except InvalidTranscript as exc:
        print(f"error: {Path(args.file).name}: {exc}", file=sys.stderr)
        return 1
    emit(get_writer(args.format).write(transcript), args.output)
    return 0
