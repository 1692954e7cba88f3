"""`audiorag finetune [--name NAME] [--data text,corrections,qa | FILE.jsonl] [--iters N] [--minutes M] [--resume]
[--fuse [DIR]]`: a LoRA adapter for the text model, trained on the library (rag/finetune.py, docs/finetune.md)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="the adapter's name (default: <model>-tuned); `--adapter NAME` uses it")
    p.add_argument("--model", dest="base", metavar="MODEL",
                   help="the text model to adapt (default: llm.model, the smollm2-135m-instruct pack)")
    p.add_argument("--data", default="text", metavar="WHAT",
                   help="what to train on: text (the transcripts, default), corrections (heard → corrected "
                        "pairs), qa (questions about the transcripts), comma-separated; or a JSONL file of "
                        "{text} / {messages} / {prompt, completion} lines")
    p.add_argument("--iters", type=int, default=200, help="training steps (default 200)")
    p.add_argument("--minutes", type=float, help="stop training after this many minutes (evaluation not counted)")
    p.add_argument("--resume", action="store_true", help="go on training adapter --name from where it stopped")
    p.add_argument("--force", action="store_true", help="replace an adapter of the same name")
    p.add_argument("--fuse", nargs="?", const="", metavar="DIR",
                   help="also write the model with the adapter folded in, as a plain MLX folder "
                        "(default: <models dir>/<name>-fused)")
    g = p.add_argument_group("training")
    g.add_argument("--batch-size", type=int, default=4, help="records per step (default 4)")
    g.add_argument("--learning-rate", type=float, default=5e-5, help="Adam's learning rate (default 5e-5)")
    g.add_argument("--epochs", type=float, default=3.0,
                   help="at most this many passes over the training records (default 3; 0: no cap): a small "
                        "library is learnt by heart after a few, and held-out perplexity rises")
    g.add_argument("--layers", type=int, default=8, help="blocks, from the last, given LoRA layers (default 8)")
    g.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    g.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the adapter's manifest as JSON at the end")


def _request(args: argparse.Namespace):
    from pathlib import Path

    from rag.finetune import FinetuneRequest

    is_file = args.data.endswith((".jsonl", ".json")) or Path(args.data).expanduser().is_file()
    sources = () if is_file else tuple(s.strip() for s in args.data.split(",") if s.strip())
    return FinetuneRequest(name=args.name, base=args.base, sources=sources, data_file=args.data if is_file else None,
                           iters=args.iters, minutes=args.minutes, resume=args.resume, force=args.force,
                           fuse=args.fuse, batch_size=args.batch_size, learning_rate=args.learning_rate,
                           epochs=args.epochs,
                           layers=args.layers, rank=args.rank, seed=args.seed)


def _progress_printer():
    """A progress line on stderr after each step: iteration, loss, elapsed, time left (rewritten in place on a
    terminal; otherwise a line a step up to 20 steps, then every 10)."""
    tty = sys.stderr.isatty()

    def show(info: dict) -> None:
        loss = f"loss {info['loss']:.3f}" if info.get("loss") is not None else "loss …"
        line = (f"iteration {info['iteration']}/{info['of']}  {loss}  {info['elapsed_s']:.0f} s, "
                f"about {info['left_s']:.0f} s left")
        if tty:
            print(f"\r{line}\033[K", end="", file=sys.stderr, flush=True)
        elif info["of"] <= 20 or info["iteration"] % 10 == 0:
            print(line, file=sys.stderr, flush=True)

    return show, tty


def run(args: argparse.Namespace) -> int:
    from rag.adapters import figures_line
    from rag.finetune import finetune

    show, tty = _progress_printer()

    def note(line: str) -> None:  # a stage, on its own line (after the progress line on a terminal)
        print(("\r\033[K" if tty else "") + line, file=sys.stderr)

    manifest = finetune(_request(args), progress=show, note=note)
    if args.json:
        from rag.cli import print_json

        print_json(manifest)
        return 0
    f = manifest["figures"]
    print(f"{manifest['name']}: LoRA on {manifest['base']}, {figures_line(manifest)}")
    if f.get("perplexity_before") is not None:
        print(f"held-out perplexity {f['perplexity_before']} → {f['perplexity_after']} "
              f"({f['held_out_tokens']} tokens of the library's text it was not trained on)")
    print(f"use it: audiorag ask --adapter {manifest['name']} \"…\"  (or llm.adapter = \"{manifest['name']}\")")
    return 0
