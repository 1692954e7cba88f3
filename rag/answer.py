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
  {"type": "warning", "text": …}      the answering LLM could not be loaded: the answer quotes the transcript
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
# By measurement (docs/answers.md): with two-shot prompts the Gemma 3 270M base model writes short, correct leads
# (rag.llm.TASK_PACKS makes it the answering model); SmolLM2-135M-Instruct's leads were sometimes grounded in the
# wrong passage, so when it is the answering model it answers extractively.
EXTRACTIVE_PACKS = frozenset({"smollm2-135m-instruct"})

# Retrieval strength needed to answer at all: the best passage either has a clearly related embedding, or a
# related one that also holds at least two of the question's content words. Calibrated for all-MiniLM-L6-v2 on
# real ASR output (docs/answers.md: 48 answerable and 36 unanswerable questions; another embedding model needs
# its own numbers). One shared word is not enough: "capital" of Australia vs "capital letters".
MIN_COSINE_ALONE = 0.55
MIN_COSINE_WITH_WORDS = 0.40
MIN_MATCHED_WORDS = 2
# A model sentence is supported by a passage when this fraction of its content words occur in the passage (or the
# question), with at most MAX_UNSUPPORTED words from neither: a tiny model's inventions are usually one or two words
# slipped into a copied sentence ("a parasitic spider called the varroa mite").
MIN_SUPPORT = 0.75
MAX_UNSUPPORTED = 1
# The model's "I don't know" is believed only when retrieval is not clearly on topic: the 135M model says it for
# passages that plainly answer (3 of 18 answerable questions in the eval).
TRUST_IDK_BELOW = 0.60
# Extra quotes are added when they are nearly as good as the best one.
QUOTE_MARGIN = 0.12
MAX_QUOTES = 2
MAX_LEAD_SENTENCES = 2


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
    if best.cosine >= MIN_COSINE_WITH_WORDS and best.matched >= MIN_MATCHED_WORDS:
        return Decision(True, f"cosine {best.cosine:.2f} with {best.matched} question words")
    return Decision(False, f"best passage too weak (cosine {best.cosine:.2f}, {best.matched} question words)")


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


def support(sentence: str, passages: list[Passage], question: str = "") -> tuple[int, float, int]:
    """How well the best passage supports a model sentence: (its index, the fraction of the sentence's content words
    found in it or in the question, how many content words are in neither). A sentence that only echoes the
    question (no word from the passage beyond the question's) has no support: (-1, 0.0, n)."""
    terms = set(content_terms(sentence))
    qterms = set(content_terms(question))
    if not terms or not passages:
        return -1, 0.0, len(terms)
    best = (-1, 0.0, len(terms))
    for i, p in enumerate(passages):
        pterms = set(content_terms(p.text))
        if not (terms & pterms) - qterms:
            continue
        covered = terms & (pterms | qterms)
        frac = len(covered) / len(terms)
        if frac > best[1]:  # ties go to the better-ranked passage (the list is best first)
            best = (i, frac, len(terms - covered))
    return best


def is_supported(frac: float, unsupported: int) -> bool:
    return frac >= MIN_SUPPORT and unsupported <= MAX_UNSUPPORTED


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
    """hybrid, except extractive when the answering model is a pack measured too weak to write answers."""
    from rag.llm import is_local

    if is_local(settings) and answer_model_name(settings) in EXTRACTIVE_PACKS:
        return "extractive"
    return DEFAULT_MODE


def _by_rank(citations: list[Citation], passages: list[Passage], lead: int = 0) -> list[Citation]:
    """The moments the model's checked answer sentences lean on (the first `lead` citations), in the order the
    answer cites them, then the quoted passages in retrieval order; without duplicates."""
    rank = {(p.episode_id, round(p.start, 2)): i for i, p in enumerate(passages)}
    head = _dedupe(citations[:lead])
    rest = sorted(_dedupe(citations[lead:]), key=lambda c: rank.get((c.episode_id, round(c.start, 2)), len(rank)))
    return _dedupe(head + rest)


def ask(question: str, *, episode: str | None = None, history: list | None = None, settings=None,
        mode: str | None = None, k: int = 5, store=None, embedder=None, llm=None,
        speaker: str | None = None) -> Iterator[dict]:
    """Answer `question` from the library as a stream of events (see the module docstring)."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    mode = mode or default_mode(settings)
    if mode not in MODES:
        raise ValueError(f"unknown answer mode '{mode}' (choose from {', '.join(MODES)})")
    if mode != "extractive" and llm is None:
        from rag.llm import get_task_llm

        try:
            llm = get_task_llm(settings, "answer")
        except (ImportError, OSError, RuntimeError) as exc:  # a ModelError is a RuntimeError
            # Quoting the transcript needs no LLM: answer that way, and say why.
            mode = "extractive"
            yield {"type": "warning", "text": f"LLM unavailable ({' '.join(str(exc).split())}): answering with "
                                              "transcript quotes only"}
    query = question.strip()
    if history:
        from rag.chat import standalone_question

        query = standalone_question(question, history, llm=llm, settings=settings)
    yield {"type": "query", "text": query}
    result = search(query, k=k, episode=episode, settings=settings, store=store, embedder=embedder, speaker=speaker)
    passages = [p.to_dict() for p in result.passages]
    yield {"type": "passages", "passages": passages}

    decision = retrieval_decision(result)
    if not decision.answerable:
        ans = abstain_answer(result)
        yield {"type": "token", "text": ans.answer}
        yield {"type": "final", "answer": ans, "passages": passages, "reason": decision.reason}
        return

    # The passages to quote are the only ones a model sentence may lean on: a sentence "supported" by a weaker
    # passage mixes the question's words with an unrelated moment ("asks Americans to print books").
    quotes = pick_quotes(result.passages, query)
    citations: list[Citation] = []
    text = ""
    reason = decision.reason
    n_lead = 0
    if mode in ("generative", "hybrid"):
        lead: Lead | None = None
        for item in stream_lead(llm, query, quotes):
            if isinstance(item, Lead):
                lead = item
                break
            sentence, passage = item
            piece = f"{' ' if text else ''}{sentence} {passage.label}"
            text += piece
            citations.append(passage.citation())
            n_lead += 1
            yield {"type": "token", "text": piece}
        if lead is not None and lead.unknown:
            if result.best.cosine < TRUST_IDK_BELOW:
                ans = abstain_answer(result)
                yield {"type": "token", "text": ans.answer}
                yield {"type": "final", "answer": ans, "passages": passages, "reason": "the model found no answer"}
                return
            reason += "; the model said it did not know, the transcript is quoted instead"
    if mode in ("extractive", "hybrid") or not text:
        piece = ("\n\n" if text else "") + quote_block(quotes)
        text += piece
        citations += [q.citation() for q in quotes]
        yield {"type": "token", "text": piece}
    ans = Answer(answer=text, abstained=False, citations=_by_rank(citations, result.passages, n_lead))
    yield {"type": "final", "answer": ans, "passages": passages, "reason": reason}


def ask_sync(question: str, **kwargs) -> Answer:
    """`ask()` without streaming: the final Answer."""
    final = None
    for event in ask(question, **kwargs):
        if event["type"] == "final":
            final = event["answer"]
    assert final is not None
    return final
