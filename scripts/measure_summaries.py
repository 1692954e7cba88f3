"""Which local model should write summaries and metadata? Measure it on a library.

For every episode, every model and every style this runs `rag.summarize.describe` (nothing is stored) and counts
the fields whose model output passed the grounding checks (the rest fall back to extraction from the transcript),
and the seconds it took. The evidence behind the defaults in docs/answers.md.

    .venv/bin/python scripts/measure_summaries.py --data-dir DIR [--model smollm2-135m-instruct --model gemma-3-270m]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

FIELDS = ("summary", "title", "description", "tags", "chapters")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="a library (e.g. the eval library: <data dir>/eval/<name>)")
    p.add_argument("--model", action="append", help="LLM pack(s) to compare (default: both local packs)")
    p.add_argument("--style", action="append", choices=["extractive", "abstractive"])
    p.add_argument("--show", action="store_true", help="print each episode's metadata (JSON) to stderr")
    args = p.parse_args()

    from rag.llm import get_llm
    from rag.settings import load_settings, set_settings
    from rag.store import Store
    from rag.summarize import Report, SummarizeError, describe

    settings = load_settings(data_dir=args.data_dir)
    set_settings(settings)
    store = Store(settings)
    episodes = [e for e in store.list_episodes() if e.status == "ready"]
    models = args.model or ["smollm2-135m-instruct", "gemma-3-270m"]
    styles = args.style or ["extractive", "abstractive"]
    print(f"{len(episodes)} episodes in {args.data_dir}\n")
    print("| model | style | fields written by the model (checked) | " + " | ".join(FIELDS) + " | failures | s/episode |")
    print("|---|---|---|" + "---|" * len(FIELDS) + "---|---|")
    for model in models:
        settings.llm.model = model
        llm = get_llm(settings)
        for style in styles:
            per_field = dict.fromkeys(FIELDS, 0)
            failures, t0 = 0, time.perf_counter()
            for ep in episodes:
                report = Report()
                try:
                    meta = describe(store.segments(ep.id), ep.duration, llm=llm, settings=settings, report=report,
                                    style=style)
                except SummarizeError:
                    failures += 1
                    continue
                for f in report.model_fields:
                    per_field[f] += 1
                if args.show:
                    print(json.dumps({"model": model, "style": style, "episode": ep.title,
                                      "from_model": report.model_fields, **meta.model_dump()}), file=sys.stderr)
            secs = (time.perf_counter() - t0) / max(1, len(episodes))
            total = sum(per_field.values())
            cells = " | ".join(f"{per_field[f]}/{len(episodes)}" for f in FIELDS)
            print(f"| {model} | {style} | {total}/{len(FIELDS) * len(episodes)} | {cells} | {failures} | {secs:.1f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
