"""Print, for every question of one split, what rag.answerable.decide sees: the best passage's cosine and question
words, the span picked, the question words missing from the passage and its context, and the decision — the
numbers the thresholds in rag/answerable.py were chosen from (dev split only; docs/answers.md).

    .venv/bin/python scripts/calibrate_answers.py tests/data/spoken_qa/eval.json --split dev

Uses the eval's cached library (`audiorag eval … --library cache` builds it). Follow-ups are left out (their query
depends on the earlier answer); `audiorag eval` scores them.
"""

from __future__ import annotations

import argparse
import collections


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("manifest")
    p.add_argument("--split", default="dev")
    args = p.parse_args()

    from rag.answer import pick_quotes
    from rag.answerable import decide
    from rag.embed import get_embedder
    from rag.eval import eval_settings, load_manifest
    from rag.search import search
    from rag.settings import get_settings
    from rag.store import Store

    name, _, questions = load_manifest(args.manifest)
    es = eval_settings(get_settings(), name, "cache")
    store, embedder = Store(es), get_embedder(es)
    counts: collections.Counter = collections.Counter()
    for q in questions:
        if q.split != args.split or q.history:
            continue
        result = search(q.question, k=5, settings=es, store=store, embedder=embedder)
        d = decide(q.question, result, pick_quotes(result.passages, q.question), store)
        best = result.best
        counts[(q.kind, d.answerable)] += 1
        print(f"{q.kind:10} {'ANSWER' if d.answerable else 'refuse'} cos={best.cosine if best else 0:.2f} "
              f"m={best.matched if best else 0} span={d.span.text if d.span else '-'!r} missing={d.missing} "
              f"| {q.question} | {d.reason}")
    for k, v in sorted(counts.items()):
        print(k, v)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
