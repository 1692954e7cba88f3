"""Ask: retrieve → (maybe) generate → attach citations → or abstain.

Why it is built this way: the local models are tiny (135M/270M) and invent freely, so the *transcript* is the
answer's backbone and the model is optional garnish.

- Retrieval (`rag.search`) gives segment-level passages with absolute scores (cosine, lexical overlap). If the best
  one is weak, we abstain before the model is even asked: "That isn't in your library." plus the closest passages.
- Modes: `extractive` answers with the best supporting transcript sentences; `generative` lets the model write a
  short answer; `hybrid` (the default, see docs/answers.md) writes the model's lead and then quotes the transcript.
- Every model sentence is checked against the retrieved passages as it streams: a sentence whose content words are
  not mostly found in one passage is unsupported, and generation stops there. Supported sentences get the citation
  of the passage that supports them, by our code; any bracket text the model wrote is stripped first and never
  trusted. If the model says it does not know, we abstain.

`ask()` yields events so the CLI and the web app can stream:
  {"type": "query", "text": …}        the standalone query actually searched (after follow-up rewriting)
  {"type": "passages", "passages": […]}  the retrieved passages (Passage.to_dict()), best first
  {"type": "token", "text": …}        answer text, in order; concatenated they are the final answer text
  {"type": "final", "answer": Answer, "passages": […]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from rag import prompts
from rag.schema import Answer, Citation
from rag.search import Passage, SearchResult, content_terms, overlap, search

MODES = ("extractive", "generative", "hybrid")
DEFAULT_MODE = "hybrid"

# Retrieval strength needed to answer at all (calibrated on real data, see docs/answers.md): the best passage
# either has a clearly related embedding (cosine) or a related one *and* most of the question's content words.
MIN_COSINE_ALONE = 0.50
MIN_COSINE_WITH_WORDS = 0.25
MIN_OVERLAP_WITH_WORDS = 0.5
# A model sentence is supported by a passage when this fraction of its content words occur in the passage.
MIN_SUPPORT = 0.6
# Extra quotes are added when they are nearly as good as the best one.
QUOTE_MARGIN = 0.12
MAX_QUOTES = 2
MAX_LEAD_SENTENCES = 2
PROMPT_PASSAGES = 3


@dataclass
class Decision:
    answerable: bool
    reason: str


def retrieval_decision(result: SearchResult) -> Decision:
    """Is the best retrieved passage relevant enough to answer from? Pure function of the absolute scores."""
    best = result.best
    if best is None:
        return Decision(False, "nothing retrieved")
    if best.cosine >= MIN_COSINE_ALONE:
        return Decision(True, f"cosine {best.cosine:.2f}")
    if best.cosine >= MIN_COSINE_WITH_WORDS and best.overlap >= MIN_OVERLAP_WITH_WORDS:
        return Decision(True, f"cosine {best.cosine:.2f} with overlap {best.overlap:.2f}")
    return Decision(False, f"best passage too weak (cosine {best.cosine:.2f}, overlap {best.overlap:.2f})")


# -- model text handling (pure) ----------------------------------------------------------------------------------
_BRACKETS = re.compile(r"\s*(\[[^\]]*\]|【[^】]*】|\((?:passage|source|see)[^)]*\))", re.IGNORECASE)
_OPEN_BRACKET = re.compile(r"\s*[\[【][^\]】]*$")
_PASSAGE_REF = re.compile(r"\b(according to |as (stated|said) in |in )?passage \d+[,:]?\s*", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*(answer|a)\s*:\s*", re.IGNORECASE)
_SENT_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+")


def strip_model_citations(text: str) -> str:
    """Remove whatever the model wrote as citations or references: [..], 【..】, (Passage 2), 'According to passage 1,'."""
    text = _BRACKETS.sub("", text)
    text = _OPEN_BRACKET.sub("", text)
    text = _PASSAGE_REF.sub("", text)
    text = _PREFIX.sub("", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] if text else text


def says_unknown(text: str) -> bool:
    low = text.lower().replace("’", "'")
    return any(re.search(p, low) for p in prompts.IDK_PATTERNS)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT_END.split(text.strip()) if s.strip()]


def support(sentence: str, passages: list[Passage]) -> tuple[int, float]:
    """(index of the passage that best supports `sentence`, fraction of its content words found there)."""
    terms = set(content_terms(sentence))
    if not terms or not passages:
        return -1, 0.0
    best_i, best = -1, -1.0
    for i, p in enumerate(passages):
        frac = len(terms & set(content_terms(p.text))) / len(terms)
        # ties go to the better-ranked passage (the list is best first)
        if frac > best:
            best_i, best = i, frac
    return best_i, best


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


def quote_block(quotes: list[Passage]) -> str:
    return "\n".join(f'"{q.text.strip()}" {q.label}' for q in quotes)


def abstain_answer(result: SearchResult, n: int = 3) -> Answer:
    closest = result.passages[:n]
    text = prompts.NOT_IN_LIBRARY
    if closest:
        text += " The closest passages:\n" + "\n".join(f'- {p.label} "{p.text.strip()}"' for p in closest)
    return Answer(answer=text, abstained=True, citations=[p.citation() for p in closest])


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


def grounded_sentences(tokens: Iterable[str], passages: list[Passage],
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
        i, frac = support(clean, passages)
        if i < 0 or frac < MIN_SUPPORT:
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
        yield from grounded_sentences(gen, passages)
    finally:
        close = getattr(gen, "close", None)
        if close:
            close()


def ask(question: str, *, episode: str | None = None, history: list | None = None, settings=None,
        mode: str | None = None, k: int = 5, store=None, embedder=None, llm=None) -> Iterator[dict]:
    """Answer `question` from the library as a stream of events (see the module docstring)."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    mode = mode or DEFAULT_MODE
    if mode not in MODES:
        raise ValueError(f"unknown answer mode '{mode}' (choose from {', '.join(MODES)})")
    query = question.strip()
    if history:
        from rag.chat import standalone_question

        query = standalone_question(question, history, llm=llm if mode != "extractive" else None, settings=settings)
    yield {"type": "query", "text": query}
    result = search(query, k=k, episode=episode, settings=settings, store=store, embedder=embedder)
    passages = [p.to_dict() for p in result.passages]
    yield {"type": "passages", "passages": passages}

    decision = retrieval_decision(result)
    if not decision.answerable:
        ans = abstain_answer(result)
        yield {"type": "token", "text": ans.answer}
        yield {"type": "final", "answer": ans, "passages": passages, "reason": decision.reason}
        return

    candidates = result.passages[:PROMPT_PASSAGES]
    citations: list[Citation] = []
    text = ""
    if mode in ("generative", "hybrid"):
        if llm is None:
            from rag.llm import get_llm

            llm = get_llm(settings)
        lead: Lead | None = None
        for item in stream_lead(llm, query, candidates):
            if isinstance(item, Lead):
                lead = item
                break
            sentence, passage = item
            piece = f"{' ' if text else ''}{sentence} {passage.label}"
            text += piece
            citations.append(passage.citation())
            yield {"type": "token", "text": piece}
        if lead is not None and lead.unknown:
            ans = abstain_answer(result)
            yield {"type": "token", "text": ans.answer}
            yield {"type": "final", "answer": ans, "passages": passages, "reason": "the model found no answer"}
            return
    if mode in ("extractive", "hybrid") or not text:
        quotes = pick_quotes(result.passages, query)
        block = quote_block(quotes)
        piece = ("\n\n" if text else "") + block
        text += piece
        citations += [q.citation() for q in quotes]
        yield {"type": "token", "text": piece}
    ans = Answer(answer=text, abstained=False, citations=_dedupe(citations))
    yield {"type": "final", "answer": ans, "passages": passages, "reason": decision.reason}


def ask_sync(question: str, **kwargs) -> Answer:
    """`ask()` without streaming: the final Answer."""
    final = None
    for event in ask(question, **kwargs):
        if event["type"] == "final":
            final = event["answer"]
    assert final is not None
    return final
