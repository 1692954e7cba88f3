"""`audiorag ask QUESTION`: an answer from the library, streamed, citing the moments (rag.stream); with `--audio
EPISODE`, the episode's recording itself asked through a Voxtral server (rag.voxtral)."""

from __future__ import annotations

import argparse
import sys

from rag.cli.options import ANSWER_MODES, add_answer_options, add_speaker_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("question")
    p.add_argument("--episode", "-e", help="only this episode (id, unique id prefix, or title)")
    p.add_argument("--mode", choices=ANSWER_MODES,
                   help="extractive: transcript quotes, no LLM (the default when the answering model is "
                        "smollm2-135m-instruct: measured too weak, see docs/answers.md); hybrid: a short model answer checked against the transcript, "
                        "then the quotes (the default for other models); generative: the checked model answer only; model: "
                        "the model decides whether the passages answer, our code cites (for a 1.5B+ instruct model "
                        "such as qwen2.5-coder-1.5b-instruct)")
    p.add_argument("-k", type=int, default=5, help="passages to retrieve (default 5)")
    add_speaker_option(p)
    p.add_argument("--json", action="store_true",
                   help="print {answer, abstained, citations: [{episode_id, title, start, end, text}]}")
    p.add_argument("--audio", metavar="EPISODE",
                   help="ask this episode's audio itself through a Voxtral server at llm.base_url "
                        "(see docs/scaling.md)")
    add_answer_options(p)


def run_audio(args: argparse.Namespace) -> int:
    """`audiorag ask --audio EPISODE "question"`."""
    from rag.errors import AudioragError, display
    from rag.schema import format_ts
    from rag.voxtral import ask_audio

    try:
        answer = ask_audio(args.audio, args.question)
    except AudioragError as exc:  # the server, the episode or the library
        print(f"error: {display(exc)}", file=sys.stderr)
        return 1
    if args.json:
        from rag.cli import print_json

        print_json(answer.to_dict())
        return 0
    print(answer.answer)
    c = answer.citations[0]
    print(f"\nHeard: {c.title}  {c.episode_id[:12]} {format_ts(c.start)}–{format_ts(c.end)}")
    return 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "audio", None):
        return run_audio(args)
    from rag.cli.answers import fail, print_sources, stream_events
    from rag.cli.options import answer_settings
    from rag.search import SearchError
    from rag.stream import live_answer

    from rag.cli.options import check_adapter
    from rag.settings import get_settings

    opts = answer_settings(args)
    check_adapter(get_settings(), opts)
    try:
        events = live_answer(args.question, episode=args.episode, opts=opts, speaker=args.speaker)
        if args.json:
            from rag.cli import print_json

            final = next(ev["answer"] for ev in events if ev["type"] == "final")
            print_json(final.to_dict())
            return 0
        final, _ = stream_events(events)
    except SearchError as exc:
        return fail(exc)
    if final is not None:
        print_sources(final)
    return 0
