"""`audiorag gc`: apply the retention settings (rag.gc): delete audio copies older than retention.audio_days,
keeping the transcripts searchable; say what was removed."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--audio-days", type=float, default=None,
                   help="delete audio copies of episodes added more than N days ago (default: retention.audio_days)")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    p.add_argument("--json", action="store_true", help="one JSON list of what was (or would be) removed")


def run(args: argparse.Namespace) -> int:
    from rag.errors import UserInputError
    from rag.gc import collect_garbage
    from rag.settings import get_settings

    settings = get_settings()
    days = args.audio_days if args.audio_days is not None else settings.retention.audio_days
    if days is not None and days < 0:
        raise UserInputError(f"--audio-days must be 0 or more, not {days:g}")
    removed = [] if days is None else collect_garbage(settings, audio_days=days, dry_run=args.dry_run)
    if args.json:
        from rag.cli import print_json

        print_json([r.to_dict() for r in removed])
        return 0
    if days is None:
        print("no retention is set (retention.audio_days in audiorag.toml, AUDIORAG_RETENTION__AUDIO_DAYS, or "
              "--audio-days N): nothing removed")
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for r in removed:
        print(f"{verb} the audio of '{r.title}' ({r.episode_id}, added {r.added[:10]}): {len(r.files)} file(s), "
              f"{r.bytes / 1e6:.1f} MB; its transcript stays searchable")
    total = sum(r.bytes for r in removed)
    print(f"{verb} {len(removed)} episode(s)' audio, {total / 1e6:.1f} MB (audio older than {days:g} days)")
    return 0
