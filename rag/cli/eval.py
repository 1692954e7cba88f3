"""`audiorag eval MANIFEST [--adapter NAME]`: score spoken question answering against gold time windows (rag.eval);
a table of metrics per answer mode (or `--json`), progress on stderr. With `--adapter` the answering model is the
adapter's base with the adapter applied (rag/adapters.py), so a run with and one without compare before/after."""

from __future__ import annotations

import argparse
import sys

from rag.cli.options import ANSWER_MODES, add_adapter_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifest", help="spoken-QA manifest (JSON): episodes, questions, gold time windows")
    p.add_argument("--mode", action="append", choices=ANSWER_MODES,
                   help="answer mode to score (repeatable; default: the configured LLM's default mode)")
    p.add_argument("--tolerance", type=float, default=2.0, help="seconds a cited start may lie outside the gold window")
    p.add_argument("--library", choices=["isolated", "cache", "current"], default="isolated",
                   help="isolated (default): a library of its own under <data dir>/eval/; cache: one per machine "
                        "(and ASR/embedding model) in the user cache dir; current: the configured one")
    p.add_argument("--split", choices=["dev", "test", "all"], default="all",
                   help="only the questions of this split (choose settings on dev, report test)")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--json", action="store_true", help="print metrics and per-question results as JSON")
    add_adapter_option(p)  # settings_from_args puts it in llm.adapter


def run(args: argparse.Namespace) -> int:
    from rag.answer import default_mode
    from rag.eval import EvalError, evaluate_modes
    from rag.settings import get_settings

    settings = get_settings()
    modes = args.mode or [default_mode(settings)]
    if settings.llm.adapter:
        _check_adapter(settings, modes)
    try:
        name, all_out = evaluate_modes(args.manifest, modes, settings=settings, tolerance=args.tolerance,
                                       library=args.library, limit=args.limit, split=args.split,
                                       progress=lambda m: print(m, file=sys.stderr))
    except EvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        from rag.cli import print_json

        print_json(all_out)
        return 0
    from rag.eval import answering_llm
    from rag.table import show_table

    keys = list(next(iter(all_out.values()))["metrics"])
    show_table(("metric", *modes),
               ([k, *[f"{all_out[mode]['metrics'].get(k, float('nan')):.3f}" for mode in modes]] for k in keys),
               title=f"eval: {name} (tolerance ±{args.tolerance:g} s, answering LLM {answering_llm(settings)})",
               right=modes)
    return 0


def _check_adapter(settings, modes: list[str]) -> None:
    """An adapter changes what an LLM writes: refuse a run where none writes, and load it now, so a corrupt or
    mismatched adapter is one line before any episode is ingested."""
    from rag.cli.options import check_adapter
    from rag.eval import EvalError

    if all(m == "extractive" for m in modes):
        raise EvalError("--adapter changes the answers a model writes; --mode extractive writes none "
                        "(use --mode hybrid, generative or model)")
    check_adapter(settings)
