"""`--mode model` with a per-passage answerability judge (`llm.answer_judge`, docs/answers.md).

After the retrieval floor (rag.answerable.retrieval_decision), each of the best JUDGE_PASSAGES distinct passages is
put to the model alone: "Does this passage answer the question? Reply yes or no." (rag.prompts.judge_messages).
The judge's verdict is the probability of the reply starting with "yes" against "no" (llama.cpp's first-token
probabilities, the seam rag.answer_model.refusal_probability uses): p(yes) / (p(yes) + p(no)).

- No passage at YES_AT or above: refused, without generating.
- Otherwise the model answers from the passages judged yes only (best first, the refusal's first token forbidden,
  as in rag.answer_model), and the answer is cited at the one of them that supports it (rag.answer_model.answer_from).

A backend without token probabilities (mlx-lm, a server) cannot judge: it answers as rag.answer_model does.
"""

from __future__ import annotations

from rag import prompts
from rag.answer_model import answer_from, decide_by_model, model_passages
from rag.answerable import Decision, retrieval_decision
from rag.search import Passage, SearchResult

JUDGE_PASSAGES = 3
YES_AT = 0.5  # chosen on dev (docs/answers.md)
YES, NO = "yes", "no"


def yes_probability(llm, question: str, passage: Passage) -> float | None:
    """p(yes) / (p(yes) + p(no)) of the judge's first token; 0.0 when neither is among the likeliest tokens, None
    when the backend gives no probabilities."""
    from rag.models import ModelError

    try:
        probs = llm.first_token_probs(prompts.judge_messages(question, passage.text))
    except ModelError:
        return None
    yes = sum(p for tok, p in probs.items() if tok.strip().lower() == YES)
    no = sum(p for tok, p in probs.items() if tok.strip().lower() == NO)
    return yes / (yes + no) if yes + no > 0 else 0.0


def judge(llm, question: str, passages: list[Passage]) -> list[float] | None:
    """The judge's p(yes) for each passage (None: the backend cannot judge)."""
    if getattr(llm, "first_token_probs", None) is None:
        return None
    out = []
    for p in passages:
        y = yes_probability(llm, question, p)
        if y is None:
            return None
        out.append(y)
    return out


def decide_by_judge(llm, question: str, result: SearchResult) -> tuple[Decision, str | None]:
    """(the decision, the model's sentence when it may be the lead), as rag.answer_model.decide_by_model."""
    first = retrieval_decision(result)
    if not first.answerable:
        return first, None
    passages = model_passages(result)[:JUDGE_PASSAGES]
    verdicts = judge(llm, question, passages)
    if verdicts is None:
        return decide_by_model(llm, question, result)
    said = f"{first.reason}; p(yes) {' '.join(f'{y:.2f}' for y in verdicts)}"
    chosen = [p for p, y in zip(passages, verdicts) if y >= YES_AT]
    if not chosen:
        return Decision(False, f"{said}; the judge: no passage answers"), None
    messages = prompts.model_answer_messages(question, [p.text for p in chosen])
    return answer_from(llm, question, chosen, messages, said, forbid_refusal=True)
