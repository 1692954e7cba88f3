"""Check the abstention thresholds (rag.answer.retrieval_decision) on questions that were *not* used to tune
anything else: 24 answerable from the eval library's episodes and 30 that no episode answers.

    .venv/bin/python scripts/calibrate_abstention.py --data-dir DIR/eval/spoken-qa-mini

DIR is the data dir `audiorag eval tests/data/spoken_qa/manifest.json --data-dir DIR` built. Prints one line per
question (best passage cosine, question words it holds, decision) and the confusion counts (docs/answers.md).
"""

from __future__ import annotations

import argparse

answerable = [
 "Which arts and crafts were represented in the exhibition?", "What did the Chinese take impressions from?",
 "What were the immediate predecessors of the printed book?", "Which Bible has never been surpassed?",
 "What should the letter used be like?", "What did the craftsmen of the Middle Ages take care of?",
 "What were the first books printed in?", "What is missal type?", "Where was the first dated Bible printed?",
 "Who printed the first dated Bible?", "Which cities had printers using Gothic type?", "Where was Roman character born?",
 "What type did Sweynheim and Pannartz use?", "Where is the silver oar kept?", "What color is the lighthouse?",
 "When did the town switch to electric light?", "How often should you feed the starter?", "How long should the bread cool?",
 "How many bees live in a healthy hive?", "How often does the comet return?", "When was the comet first spotted?",
 "What do city beekeepers worry about most?", "Which trees flavour the honey?", "What should my country do for me?",
]
unanswerable = [
 "What is the boiling point of water?", "Who painted the Mona Lisa?", "How do I reset my router password?",
 "What is the population of Tokyo?", "Which planet is the largest?", "How do vaccines work?",
 "What is the price of gold today?", "Who wrote Hamlet?", "How many legs does a spider have?",
 "What is the tallest mountain in Africa?", "How do I file my taxes?", "What did the mayor say about parking?",
 "Which team won the basketball final?", "How do I bake a cheesecake?", "What is quantum entanglement?",
 "How long do cats live?", "What language is spoken in Brazil?", "When did the Roman empire fall?",
 "What is the best programming language?", "How do I fix a flat bicycle tire?", "What is the speed of light?",
 "Where is the Eiffel Tower?", "Who invented the telephone?", "What is a black hole?",
 "How much does a new car cost?", "What are the symptoms of the flu?", "How do airplanes fly?",
 "What is the capital of Canada?", "Who discovered penicillin?", "How do I learn to swim?",
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    args = p.parse_args()

    from rag.answer import retrieval_decision
    from rag.settings import load_settings
    from rag.search import search

    settings = load_settings(data_dir=args.data_dir)
    counts = {("A", True): 0, ("A", False): 0, ("U", True): 0, ("U", False): 0}
    for label, qs in (("A", answerable), ("U", unanswerable)):
        for q in qs:
            r = search(q, settings=settings)
            d = retrieval_decision(r)
            b = r.best
            counts[(label, d.answerable)] += 1
            wrong = (label == "A") != d.answerable
            print(f"{'WRONG ' if wrong else ''}{label} cos={b.cosine:.2f} words={b.matched} "
                  f"{'answer ' if d.answerable else 'abstain'} | {q} | {b.text[:60]}")
    print(f"\nanswerable: {counts[('A', True)]} answered, {counts[('A', False)]} abstained; "
          f"unanswerable: {counts[('U', False)]} abstained, {counts[('U', True)]} answered")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
