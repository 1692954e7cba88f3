"""Ask: retrieve → decide whether the passages answer → compose one statement and the moment it comes from.

Why: the small local models (135M/270M) invent freely, so the *transcript* is the answer's backbone and the model
is garnish; `model` mode (rag/answer_model.py) lets a 1.5B instruct model decide answerability, our code cites.
- Retrieval (`rag.search`) gives segment-level passages with absolute scores (cosine, lexical overlap).
- Answerability (`rag.answerable.decide`): retrieval strength, the question's type against what the passage holds,
  the question's own words; if not: "That isn't in your library." (or "This episode does not say.") and the closest.
- The span (`rag.extract`): the words that answer, picked out of the cited passage; the lead is the transcript
  sentence that holds it. In `hybrid`/`generative` mode the model writes a lead too, and it replaces the
  transcript sentence only when it is supported by the passage and holds the span's words (checked while it
  streams; any bracket text the model wrote is stripped and never trusted). Citations come from our code.
- Composition: the lead, then the moment's `[Title @ mm:ss]` label once; the transcript quote under a model's lead
  (never when it would repeat the lead); a second moment only when it is nearly as good and says something else.
  `repeats()` checks that no sentence and no moment's link is shown twice.

`ask()` yields events so the CLI and the web app can stream:
  {"type": "query", "text": …}        the standalone query actually searched (after follow-up rewriting)
  {"type": "passages", "passages": […]}  the retrieved passages (Passage.to_dict()), best first
  {"type": "token", "text": …}        answer text, in order; concatenated they are the final answer text
  {"type": "final", "answer": Answer, "passages": […], "reason": …}   Answer has lead, span, citations, query
  {"type": "warning", "text": …}      the answering LLM could not be loaded: the answer quotes the transcript
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from rag import prompts
from rag.answer_text import (  # noqa: F401 (re-exported: their old home)
    _SENT_END, MAX_UNSUPPORTED, MIN_SUPPORT, _distinct, _norm, is_supported, says_unknown, split_sentences,
    strip_model_citations, support,
)
from rag.answerable import decide, retrieval_decision  # noqa: F401 (retrieval_decision: its old home)
from rag.schema import Answer, Citation, Span
from rag.search import Passage, SearchResult, overlap, search

MODES = ("extractive", "generative", "hybrid", "model")  # model: rag/answer_model.py
DEFAULT_MODE = "hybrid"
# By measurement (docs/answers.md): with two-shot prompts the Gemma 3 270M base model writes short, correct leads
# (rag.llm.TASK_PACKS makes it the answering model); SmolLM2-135M-Instruct's leads were sometimes grounded in the
# wrong passage, so when it is the answering model it answers extractively.
EXTRACTIVE_PACKS = frozenset({"smollm2-135m-instruct"})

# Extra quotes are added when they are nearly as good as the best one.
QUOTE_MARGIN = 0.12
MAX_QUOTES = 2
MAX_LEAD_SENTENCES = 2


def pick_quotes(passages: list[Passage], question: str) -> list[Passage]:
    """The passages to quote: the best one, plus any nearly as good one that shares some of the question's words."""
    if not passages:
        return []
    top = passages[0]
    out = [top]
    for p in passages[1:]:
        if len(out) >= MAX_QUOTES:
            break
        if p.score >= top.score - QUOTE_MARGIN and overlap(question, p.text) > 0 and p.text.strip() != top.text.strip():
            out.append(p)
    return out


def abstain_answer(result: SearchResult, n: int = 3, *, scoped: bool = False, reason: str = "",
                   query: str | None = None) -> Answer:
    """The refusal, with the closest passages (each moment once) so the user can check."""
    closest = _distinct(result.passages)[:n]
    lead = prompts.NOT_IN_EPISODE if scoped else prompts.NOT_IN_LIBRARY
    text = lead
    if closest:
        text += " The closest passages:\n" + "\n".join(f'- {p.label} "{p.text.strip()}"' for p in closest)
    return Answer(answer=text, abstained=True, citations=[p.citation() for p in closest], lead=lead,
                  query=query, scope="episode" if scoped else "library", reason=reason)



_LABEL = re.compile(r"\[[^\[\]]+ @ \d+(?::\d\d)+\]")


def repeats(answer: Answer) -> list[str]:
    """What the answer shows twice: a moment's link, or a sentence (said again, or inside a longer quote).
    Empty for a well-composed answer; the eval counts it for every answer (`answers_with_repeats`)."""
    text = answer.answer
    out = []
    labels = _LABEL.findall(text)
    out += sorted({lab for lab in labels if labels.count(lab) > 1})
    plain = _LABEL.sub("\n", text.replace("The closest passages:", "\n"))
    units = [u.strip(' -"\u201c\u201d') for u in re.split(r'\n|"\s', plain)]
    sentences = [_norm(x) for u in units for x in split_sentences(u)]
    sentences = [x for x in sentences if len(x.split()) >= 3]
    for i, x in enumerate(sentences):
        if any(j != i and (x == y and j < i or (x != y and f" {x} " in f" {y} ")) for j, y in enumerate(sentences)):
            out.append(x)
    return out


def sentence_with(text: str, start: int, end: int) -> str:
    """The sentence of `text` that holds the characters [start, end)."""
    pos = 0
    for sent in split_sentences(text):
        i = text.find(sent, pos)
        if i <= start < i + len(sent) + 1:
            return sent
        pos = i + len(sent)
    return text.strip()


def moment(passage: Passage, char: int, store) -> float:
    """When the sentence holding character `char` of the passage starts: the first word of the segment it lies in
    (segments are cut at sentence ends, rag/ingest.segment), not the start of a passage that spans several."""
    if store is None or len(passage.segment_ids) < 2:
        return passage.start
    pos = 0
    for seg in store.segments(passage.episode_id, passage.segment_ids):
        pos += len(seg.text.strip()) + 1
        if char < pos:
            return seg.words[0].start if seg.words else seg.start
    return passage.start


def compose(lead: str, by_model: bool, passage: Passage, more: list[Passage]) -> str:
    """The lead, the moment it comes from (once), the transcript quote under a model's lead, further moments."""
    text = f"{lead} {passage.label}"
    shown = {_norm(lead)}
    lead_n, quote_n = _norm(lead), _norm(passage.text)
    if by_model and f" {lead_n} " not in f" {quote_n} " and f" {quote_n} " not in f" {lead_n} ":
        # without the transcript sentences the model's lead copied into its own (it may join two in one)
        quote = " ".join(x for x in split_sentences(passage.text) if f" {_norm(x)} " not in f" {lead_n} ")
        text += f'\n"{quote}"' if quote else ""
        shown.add(_norm(passage.text))
    for p in more:
        n = _norm(p.text)
        if any(n == x or f" {x} " in f" {n} " or f" {n} " in f" {x} " for x in shown):
            continue
        text += f'\nAlso {p.label}: "{p.text.strip()}"'
        shown.add(n)
    return text


def _dedupe(citations: Iterable[Citation]) -> list[Citation]:
    seen, out = set(), []
    for c in citations:
        key = (c.episode_id, round(c.start, 2))
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


# -- generation ----------------------------------------------------------------------------------------------------
class _Done(Exception):
    """Stop reading the model's stream."""


@dataclass
class Lead:
    sentences: list[tuple[str, Passage]]  # supported model sentences with the passage that supports each
    unknown: bool = False  # the model said the passages do not answer
    rejected: str | None = None  # the first unsupported sentence, if generation was cut there


def grounded_sentences(tokens: Iterable[str], passages: list[Passage], question: str = "",
                       max_sentences: int = MAX_LEAD_SENTENCES) -> Iterator[tuple[str, Passage] | Lead]:
    """Cut a token stream into sentences and check each against the passages as soon as it is complete: yields
    (sentence without model citations, supporting passage) while they are supported, stops at the first
    unsupported one or at an "I don't know"; the last item is the Lead with what was kept."""
    lead = Lead([])
    buf = ""

    def handle(sentence: str) -> tuple[str, Passage] | None:
        clean = strip_model_citations(sentence)
        if not clean or not any(ch.isalnum() for ch in clean):
            return None
        if says_unknown(clean):
            lead.unknown = not lead.sentences
            raise _Done
        i, frac, unsupported = support(clean, passages, question)
        if i < 0 or not is_supported(frac, unsupported):
            lead.rejected = clean
            raise _Done
        item = (clean, passages[i])
        lead.sentences.append(item)
        return item

    try:
        for tok in tokens:
            buf += tok
            parts = _SENT_END.split(buf)
            for sentence in parts[:-1]:
                item = handle(sentence)
                if item:
                    yield item
                if len(lead.sentences) >= max_sentences:
                    raise _Done
            buf = parts[-1]
        tail = buf.strip().split("\n")[0]
        if tail and len(lead.sentences) < max_sentences:
            item = handle(tail)
            if item:
                yield item
    except _Done:
        pass
    yield lead


def stream_lead(llm, question: str, passages: list[Passage], *, max_tokens: int = 80,
                temperature: float = 0.0) -> Iterator[tuple[str, Passage] | Lead]:
    """The model's answer to `question` from `passages`, checked sentence by sentence (see grounded_sentences)."""
    gen = llm.stream(prompts.answer_messages(question, [p.text for p in passages]), max_tokens=max_tokens,
                     temperature=temperature, stop=["\n\n", "Passage ", "Question:", "\nQ:"])
    try:
        yield from grounded_sentences(gen, passages, question)
    finally:
        close = getattr(gen, "close", None)
        if close:
            close()


def answer_model_name(settings) -> str:
    """The LLM that writes answers (rag.llm.task_model)."""
    from rag.llm import task_model

    return task_model(settings, "answer")


def default_mode(settings) -> str:
    """hybrid, except extractive when the answering model is a pack measured too weak to write answers, and model
    for a pack measured right for it (rag.answer_model.MODEL_MODE_PACKS)."""
    from rag.answer_model import MODEL_MODE_PACKS
    from rag.llm import is_local

    name = answer_model_name(settings) if is_local(settings) else None
    if name in EXTRACTIVE_PACKS and not settings.llm.adapter:
        return "extractive"  # an adapter was chosen to write: its answers are checked like any model's (hybrid)
    return "model" if name in MODEL_MODE_PACKS else DEFAULT_MODE


def model_lead(llm, question: str, passage: Passage, span_text: str) -> str | None:
    """The model's first sentence, kept only when the passage supports it and it holds the span's words."""
    for item in stream_lead(llm, question, [passage]):
        if isinstance(item, Lead):
            return None
        sentence, _ = item
        if f" {_norm(span_text)} " in f" {_norm(sentence)} ":
            return sentence
        return None
    return None


def _load_llm(settings, mode: str, llm):
    """(llm, mode, warning): without a loadable model the answer quotes the transcript."""
    if mode == "extractive" or llm is not None:
        return llm, mode, None
    from rag.llm import get_task_llm

    try:
        return get_task_llm(settings, "answer"), mode, None
    except (ImportError, OSError, RuntimeError) as exc:  # a ModelError is a RuntimeError
        return None, "extractive", (f"LLM unavailable ({' '.join(str(exc).split())}): answering with transcript "
                                    "quotes only")


def ask(question: str, *, episode: str | None = None, history: list | None = None, settings=None,
        mode: str | None = None, k: int = 5, store=None, embedder=None, llm=None,
        speaker: str | None = None) -> Iterator[dict]:
    """Answer `question` from the library as a stream of events (see the module docstring)."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    mode = mode or default_mode(settings)
    if mode not in MODES:
        raise ValueError(f"unknown answer mode '{mode}' (choose from {', '.join(MODES)})")
    llm, mode, warning = _load_llm(settings, mode, llm)
    if warning:
        yield {"type": "warning", "text": warning}
    if store is None:
        from rag.store import Store

        store = Store(settings)
    query = question.strip()
    if history:
        from rag.followup import standalone_question

        query = standalone_question(question, history, llm=llm, settings=settings)
    yield {"type": "query", "text": query}
    result = search(query, k=k, episode=episode, settings=settings, store=store, embedder=embedder, speaker=speaker)
    passages = [p.to_dict() for p in result.passages]
    yield {"type": "passages", "passages": passages}

    # Only the passages worth quoting may answer: a weaker one mixes the question's words with another moment.
    quotes = pick_quotes(result.passages, query)
    written = None
    if mode == "model" and llm is not None and settings.llm.answer_judge:
        from rag.answer_judge import decide_by_judge

        decision, written = decide_by_judge(llm, query, result)
    elif mode == "model" and llm is not None:
        from rag.answer_model import decide_by_model

        decision, written = decide_by_model(llm, query, result)
    else:
        decision = decide(query, result, quotes, store)
    if not decision.answerable:
        ans = abstain_answer(result, scoped=episode is not None, reason=decision.reason, query=query)
        yield {"type": "token", "text": ans.answer}
        yield {"type": "final", "answer": ans, "passages": passages, "reason": decision.reason}
        return
    passage, span = decision.passage, decision.span
    lead, by_model = sentence_with(passage.text, span.start, span.end), False
    if mode in ("generative", "hybrid") and llm is not None:
        written = model_lead(llm, query, passage, span.text)
    if written:
        lead, by_model = written, True
    more = [] if mode in ("generative", "model") else [p for p in quotes if p is not passage]
    text = compose(lead, by_model, passage, more)
    first = passage.citation()
    start = moment(passage, span.start, store)
    if start != passage.start:  # cite the sentence that answers; the quote keeps the whole passage
        first = first.model_copy(update={"start": start})
        text = text.replace(passage.label, first.label, 1)
    cited = _dedupe([first] + [p.citation() for p in more if p.label in text])
    yield {"type": "token", "text": text}
    ans = Answer(answer=text, citations=cited, lead=lead, lead_by_model=by_model,
                 span=Span(text=span.text, start=span.start, end=span.end), query=query,
                 scope="episode" if episode else "library", reason=decision.reason)
    yield {"type": "final", "answer": ans, "passages": passages, "reason": decision.reason}


def ask_sync(question: str, **kwargs) -> Answer:
    """`ask()` without streaming: the final Answer."""
    final = None
    for event in ask(question, **kwargs):
        if event["type"] == "final":
            final = event["answer"]
    assert final is not None
    return final
