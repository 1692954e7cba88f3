"""`audiorag summarize EPISODE | --all`: summary, title, description, tags and chapters (rag.summarize)."""

from __future__ import annotations

import argparse
import sys

from rag.schema import format_ts


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("episode", nargs="?", help="episode id (or unique prefix) or title")
    p.add_argument("--all", action="store_true", help="every episode in the library")
    p.add_argument("--keep-title", action="store_true", help="never replace the episode's title")
    p.add_argument("--style", choices=["extractive", "abstractive"],
                   help="summary: extractive (default; central transcript sentences, map-reduce) or abstractive "
                        "(the LLM summarizes each part and combines them; checked, with extraction as fallback)")
    p.add_argument("--json", action="store_true", help="print the metadata as JSON")
    from rag.cli.options import add_adapter_option

    add_adapter_option(p)


def _show(meta, report) -> None:
    print(f"\n# {meta.title}\n{meta.description}\n\n{meta.summary}\n\ntags: {', '.join(meta.tags)}")
    for c in meta.chapters:
        print(f"  {format_ts(c.start)}  {c.title}")
    if report.fallback_fields:
        print(f"(extracted from the transcript, the model's answer did not validate: "
              f"{', '.join(report.fallback_fields)})", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from rag.store import Store
    from rag.summarize import DEFAULT_STYLE, SummarizeError, summarize_episode

    if bool(args.episode) == bool(args.all):
        print("error: give one EPISODE or --all", file=sys.stderr)
        return 2
    from rag.cli.options import check_adapter
    from rag.settings import get_settings

    check_adapter(get_settings(), task="summary")
    store = Store()
    refs = [e.id for e in store.list_episodes()] if args.all else [args.episode]
    results, failed = [], 0
    llm = None
    for ref in refs:
        try:
            if llm is None:
                from rag.llm import get_task_llm

                llm = get_task_llm(task="summary")
            meta, report = summarize_episode(ref, store=store, llm=llm, keep_title=args.keep_title,
                                             style=args.style or DEFAULT_STYLE,
                                             progress=lambda m, r=ref: print(f"{r[:12]}: {m}", file=sys.stderr))
        except SummarizeError as exc:
            failed += 1
            print(f"error: {ref[:12]}: {exc}", file=sys.stderr)
            continue
        results.append({"episode_id": store.find_episode(ref).id, **meta.model_dump(),
                        "from_model": report.model_fields, "fallback": report.fallback_fields})
        if not args.json:
            _show(meta, report)
    if args.json:
        from rag.cli import print_json

        print_json(results)
    return 1 if failed else 0
