"""Answering: citation attachment, grounding of model sentences, abstention (pure functions first, then the real
models on a real library)."""

from __future__ import annotations

import pytest

from rag import prompts
from rag.answer import (
    Lead,
    abstain_answer,
    grounded_sentences,
    pick_quotes,
    retrieval_decision,
    says_unknown,
    split_sentences,
    strip_model_citations,
    support,
)
from rag.search import Passage, SearchResult


def P(text: str, start: float = 0.0, score: float = 0.8, cosine: float = 0.6, overlap: float = 0.5,
      title: str = "Harbor tour", episode: str = "ep1") -> Passage:
    return Passage(episode_id=episode, title=title, start=start, end=start + 5, text=text, score=score,
                   cosine=cosine, overlap=overlap, segment_ids=[int(start)])


LIGHTHOUSE = P("The lighthouse at the end of the pier was built in 1874 by a shipwright named Thomas Greene.", 4.2)
LAMP = P("Its lamp burned whale oil until the town switched to electric light in 1921.", 11.0, score=0.7)
RACE = P("Every summer the harbor hosts a rowing race between the fishing villages.", 25.0, score=0.4)


def test_model_citations_are_stripped():
    assert strip_model_citations("It was built in 1874 [Harbor tour @ 00:04].") == "It was built in 1874."
    assert strip_model_citations("According to passage 2, the lamp burned whale oil.") == "The lamp burned whale oil."
    assert strip_model_citations("Answer: Thomas Greene built it (Passage 1)") == "Thomas Greene built it"
    assert strip_model_citations("Greene built it [Harbor @ 0") == "Greene built it"
    assert strip_model_citations("【1】 Greene.") == "Greene."


def test_unknown_is_recognised():
    assert says_unknown(prompts.IDK)
    assert says_unknown("The passages do not mention the price.")
    assert says_unknown("There is no information about that")
    assert not says_unknown("The lighthouse was built by Thomas Greene.")
    assert not says_unknown("He knows the harbor well.")


def test_split_sentences():
    assert split_sentences("It was 1874. Greene built it! Why? ") == ["It was 1874.", "Greene built it!", "Why?"]


def test_support_picks_the_passage_holding_the_words():
    i, frac = support("The lamp burned whale oil.", [LIGHTHOUSE, LAMP])
    assert i == 1 and frac == 1.0
    i, frac = support("The bridge was painted blue in Paris.", [LIGHTHOUSE, LAMP])
    assert frac < 0.5


def test_grounded_sentences_cite_supported_and_stop_at_inventions():
    tokens = ["Thomas Gree", "ne built the light", "house in 1874 [Wrong @ 9:99]. ", "It burned whale",
              " oil. The mayor sold it to Paris in 1990."]
    out = list(grounded_sentences(tokens, [LIGHTHOUSE, LAMP], max_sentences=5))
    lead = out[-1]
    assert isinstance(lead, Lead)
    assert [(s, p.start) for s, p in out[:-1]] == [("Thomas Greene built the lighthouse in 1874.", 4.2),
                                                    ("It burned whale oil.", 11.0)]
    assert lead.rejected and "Paris" in lead.rejected
    assert not lead.unknown


def test_grounded_sentences_idk_and_limit():
    lead = list(grounded_sentences(["I don't know."], [LIGHTHOUSE]))[-1]
    assert lead.unknown and not lead.sentences
    out = list(grounded_sentences(["Greene built the lighthouse. Greene built it in 1874. It burned whale oil."],
                                  [LIGHTHOUSE, LAMP], max_sentences=2))
    assert len(out[-1].sentences) == 2 and len(out) == 3


def test_retrieval_decision_thresholds():
    assert retrieval_decision(SearchResult("q", [], [])).answerable is False
    strong = SearchResult("q", [], [P("x", cosine=0.62, overlap=0.0)])
    related_with_words = SearchResult("q", [], [P("x", cosine=0.35, overlap=0.67)])
    weak = SearchResult("q", [], [P("x", cosine=0.18, overlap=0.34)])
    assert retrieval_decision(strong).answerable
    assert retrieval_decision(related_with_words).answerable
    assert not retrieval_decision(weak).answerable


def test_quotes_and_abstention():
    quotes = pick_quotes([LIGHTHOUSE, LAMP, RACE], "Who built the lighthouse and what did its lamp burn?")
    assert quotes == [LIGHTHOUSE, LAMP]  # RACE scores too far below the best
    assert pick_quotes([LIGHTHOUSE, LAMP], "Who built the lighthouse?") == [LIGHTHOUSE]  # LAMP shares no words
    ans = abstain_answer(SearchResult("q", [], [LIGHTHOUSE, LAMP]))
    assert ans.abstained and ans.answer.startswith(prompts.NOT_IN_LIBRARY)
    assert "[Harbor tour @ 00:04]" in ans.answer and len(ans.citations) == 2
    assert ans.citations[0].label == "[Harbor tour @ 00:04]"


# -- follow-ups (rag.chat) -------------------------------------------------------------------------------------
from rag.chat import is_follow_up, previous_question, rule_rewrite, standalone_question, valid_rewrite  # noqa: E402


def test_follow_up_detection():
    assert is_follow_up("When did he finish it?")
    assert is_follow_up("And the lamp?")
    assert is_follow_up("Why?")
    assert not is_follow_up("Who built the lighthouse on the pier?")


def test_previous_question_from_messages_and_pairs():
    msgs = [{"role": "user", "content": "Who built the lighthouse?"}, {"role": "assistant", "content": "Greene."}]
    assert previous_question(msgs) == "Who built the lighthouse?"
    assert previous_question([("What is sourdough?", "Bread.")]) == "What is sourdough?"
    recorded = [{"role": "user", "content": "And when?", "query": "When was the lighthouse built?"}]
    assert previous_question(recorded) == "When was the lighthouse built?"
    assert previous_question([]) is None


def test_rule_rewrite_adds_the_previous_topic():
    q = rule_rewrite("When did he finish it?", "Who built the lighthouse?")
    assert "lighthouse" in q and q.startswith("When did he finish it?")
    assert "built" in q
    # a standalone question passes through untouched
    hist = [("Who built the lighthouse?", "Greene.")]
    assert standalone_question("What does the comet's tail consist of?", hist) == "What does the comet's tail consist of?"
    assert "lighthouse" in standalone_question("How tall is it?", hist)


def test_model_rewrites_are_validated():
    prev, q = "Who built the lighthouse?", "When did he finish it?"
    assert valid_rewrite("When did the builder of the lighthouse finish it?", q, prev) is False  # 'builder' invented
    assert valid_rewrite("When did he finish the lighthouse?", q, prev)
    assert not valid_rewrite("When did he finish it?", q, prev)  # resolved nothing
    assert not valid_rewrite("The lighthouse", q, prev)  # lost the question's own words
    assert not valid_rewrite("When did the mayor finish the bridge?", q, prev)
