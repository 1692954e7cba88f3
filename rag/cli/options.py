"""Flags more than one verb shares, and what turns them into values: diarization, speaker, dates, answer settings."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone


def add_diarize_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--diarize", choices=["auto", "on", "off"],
                   help="label speakers: auto (default: when the engine is installed, counting the voices), on, off")
    p.add_argument("--speakers", type=int, metavar="N", help="how many people speak, when known")


# The answer modes (rag.answer.MODES), spelled here so parsing a command imports no answering code.
ANSWER_MODES = ["hybrid", "extractive", "generative", "model"]


def add_speaker_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--speaker", help="only what this speaker says (a name given with `audiorag speakers`, or S1…)")


def parse_date(value: str) -> datetime:
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def add_answer_options(p: argparse.ArgumentParser) -> None:
    """The answer settings (rag.schema.AnswerSettings) as flags; unset ones keep the defaults (or, with
    `chat --resume`, the conversation's own)."""
    g = p.add_argument_group("answer settings")
    g.add_argument("--temperature", type=float, help="sampling temperature (default 0: greedy)")
    g.add_argument("--top-p", type=float, help="nucleus sampling (0: off)")
    g.add_argument("--top-k", type=int, help="top-k sampling (0: off)")
    g.add_argument("--max-tokens", type=int, help="tokens the model may write for its part (default 80)")
    g.add_argument("--system-prompt", help="replace the answer prompt's instructions")
    g.add_argument("--answer-model", help="the LLM that writes answers (pack name, folder or hub id)")
    add_adapter_option(g)


def add_adapter_option(p) -> None:
    p.add_argument("--adapter", metavar="NAME",
                   help="a fine-tuned adapter (audiorag finetune): its base model writes, with it, on mlx-lm")


def check_adapter(settings, opts=None, task: str = "answer") -> None:
    """With an adapter chosen, load the task's model with it now: a corrupt adapter, or one trained on another
    model, stops the command with one line instead of the answer quietly falling back to quotes."""
    if not settings.llm.adapter or (opts is not None and opts.mode == "extractive"):
        return
    from rag.llm import get_task_llm

    if opts is not None:
        from rag.stream import task_settings

        settings = task_settings(settings, opts)
    get_task_llm(settings, task)


def answer_settings(args: argparse.Namespace, base=None):
    """AnswerSettings from the flags over `base` (a conversation's settings, or the defaults)."""
    from pydantic import ValidationError

    from rag.models import ModelError
    from rag.schema import AnswerSettings

    base = base or AnswerSettings()
    flags = {"mode": getattr(args, "mode", None), "k": getattr(args, "k", None),
             "temperature": args.temperature, "top_p": args.top_p, "top_k": args.top_k,
             "max_tokens": args.max_tokens, "system_prompt": args.system_prompt, "model": args.answer_model}
    try:
        return AnswerSettings.model_validate({**base.model_dump(), **{k: v for k, v in flags.items() if v is not None}})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ModelError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
