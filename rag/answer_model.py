"""`--mode model`: the model decides whether the passages answer; our code decides what is cited.

For an instruct model big enough to follow an instruction (the qwen2.5-coder-1.5b-instruct pack, docs/answers.md):
the retrieval floor first (rag.answerable.retrieval_decision: a question about something never recorded is refused
without asking the model), then the best MODEL_PASSAGES distinct passages go to the model with a zero-shot prompt
(rag.prompts.MODEL_ANSWER_SYSTEM): answer in one sentence, or reply "That isn't in your library."

- A refusal (or any "I don't know" phrasing, rag.answer.says_unknown) refuses.
- An answer is cited at the passage that supports it (rag.answer.support: the most of the answer's content words),
  at the sentence of that passage holding the most of the answer's own words (not the question's), and the span is
  picked out of that sentence (rag.extract.pick_span). Whatever the model wrote as a citation is stripped and never
  read. An answer with no word of any passage beyond the question's is refused: nothing backs it.
- The model's sentence is the lead only when it passes the support check (rag.answer.is_supported); otherwise the
  lead is the transcript sentence.
"""

from __future__ import annotations

from rag import prompts
from rag.answer_text import _distinct, is_supported, says_unknown, split_sentences, strip_model_citations, support
from rag.answerable import Decision, retrieval_decision
from rag.extract import SpanPick, pick_span
from rag.search import Passage, SearchResult, content_terms

# The packs this mode is the default for (rag.answer.default_mode): measured on dev, docs/answers.md.
MODEL_MODE_PACKS = frozenset({"qwen2.5-coder-1.5b-instruct"})
MODEL_PASSAGES = 3
MAX_TOKENS = 64
# Answerability by token probability (a backend with `first_token_probs`, i.e. llama.cpp): the probability that the
# reply starts with the refusal's first token. At REFUSE_AT or above the question is refused; below it the model
# must answer (the refusal's first token is forbidden while it writes). Calibrated on dev (docs/answers.md).
REFUSAL_START = "That"
REFUSE_AT = 0.3  # dev: every value from 0.10 to 0.48 makes the same decisions (docs/answers.md)


def first_sentence(text: str) -> str:
    clean = strip_model_citations(text.strip().split("\n")[0])
    sentences = split_sentences(clean)
    return sentences[0] if sentences else clean


def answer_span(answer: str, question: str, text: str) -> SpanPick:
    """Where in passage `text` the model's `answer` comes from: the sentence sharing the most of the answer's own
    content words (those the question does not hold; then all of them), and in it the span pick_span chooses, or
    the whole sentence."""
    own = set(content_terms(answer)) - set(content_terms(question))
    every = set(content_terms(answer))
    best, best_key, pos = None, (-1, -1), 0
    for sent in split_sentences(text) or [text.strip()]:
        i = text.find(sent, pos)
        i = i if i >= 0 else pos
        pos = i + len(sent)
        terms = set(content_terms(sent))
        key = (len(own & terms), len(every & terms))
        if key > best_key:
            best, best_key = (i, sent), key
    start, sent = best
    pick = pick_span(question, sent)
    if pick is None:
        return SpanPick(start, start + len(sent), sent, False)
    return SpanPick(start + pick.start, start + pick.end, pick.text, pick.typed)


def model_passages(result: SearchResult) -> list[Passage]:
    return _distinct(result.passages)[:MODEL_PASSAGES]


def refusal_probability(llm, messages: list[dict]) -> float | None:
    """How likely the model's reply starts as the refusal does; None when the backend gives no probabilities."""
    probs = getattr(llm, "first_token_probs", None)
    if probs is None:
        return None
    from rag.models import ModelError

    try:
        return sum(p for tok, p in probs(messages).items() if tok.strip() == REFUSAL_START)
    except ModelError:
        return None


def decide_by_model(llm, question: str, result: SearchResult) -> tuple[Decision, str | None]:
    """(the decision, the model's sentence when it may be the lead)."""
    first = retrieval_decision(result)
    if not first.answerable:
        return first, None
    passages = model_passages(result)
    messages = prompts.model_answer_messages(question, [p.text for p in passages])
    p_refuse = refusal_probability(llm, messages)
    said = first.reason + ("" if p_refuse is None else f"; p(refuse) {p_refuse:.2f}")
    if p_refuse is not None and p_refuse >= REFUSE_AT:
        return Decision(False, f"{said}; the model: the passages do not say"), None
    return answer_from(llm, question, passages, messages, said, forbid_refusal=p_refuse is not None)


def answer_from(llm, question: str, passages: list[Passage], messages: list[dict], said: str,
                forbid_refusal: bool) -> tuple[Decision, str | None]:
    """Generate the model's answer to `messages` (with the refusal's first token forbidden when `forbid_refusal`)
    and cite it at the passage among `passages` that supports it; also rag.answer_judge's second step."""
    kw = dict(max_tokens=MAX_TOKENS, temperature=0.0, stop=["\n"])
    reply = (llm.generate_avoiding(messages, [REFUSAL_START], **kw) if forbid_refusal
             else llm.generate(messages, **kw))
    sentence = first_sentence(reply)
    if not sentence or not any(ch.isalnum() for ch in sentence) or says_unknown(sentence):
        return Decision(False, f"{said}; the model: the passages do not say"), None
    i, frac, unsupported = support(sentence, passages, question)
    if i < 0:
        return Decision(False, f"{said}; the model's answer is in no passage: {sentence}"), None
    passage = passages[i]
    span = answer_span(sentence, question, passage.text)
    reason = f"{said}; the model answers from passage {i + 1} (support {frac:.2f})"
    return Decision(True, reason, passage, span), sentence if is_supported(frac, unsupported) else None
