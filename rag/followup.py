"""Follow-ups: a question like "when did he say that?" is rewritten into a standalone query before retrieval.

Retrieval sees one query, not the conversation, so "it"/"he"/"that" must be resolved first, from the previous
question *and* the previous answer (its span: "Who built it?" → "Thomas Greene"; then "When was he born?" is
about Thomas Greene). The model is asked to rewrite, but a 135M model often garbles it, so its rewrite is only
accepted when it keeps the follow-up's own content words and adds nothing that was never said; otherwise a rule
puts the previous answer's name in place of the pronoun and appends the previous question's key terms (good
enough for hybrid search, which is what the query is for). The rewrite is shown to the user (the `query` event,
`Answer.query`, the CLI's "(searched for: …)").
"""

from __future__ import annotations

import re

from rag.search import STOPWORDS, content_terms, words

# Words that point back to something said before.
ANAPHORA = frozenset("it its it's he him his she her hers they them their theirs this that these those there then "
                     "one ones former latter same".split())
_FOLLOW_UP_START = re.compile(r"^\s*(and|but|so|also|what about|how about|and what about|why|why not|really)\b",
                              re.IGNORECASE)


def previous_question(history: list) -> str | None:
    """The last user question (its standalone form when the Chat recorded one). History is chat messages
    (`{"role", "content"}`, as Gradio keeps them) or (question, answer) pairs."""
    for item in reversed(history or []):
        if isinstance(item, dict):
            if item.get("role") == "user" and str(item.get("content", "")).strip():
                return str(item.get("query") or item["content"])
        elif isinstance(item, (list, tuple)) and len(item) == 2 and str(item[0] or "").strip():
            return str(item[0])
    return None


def previous_answer(history: list) -> str:
    """The words that answered the last turn (its span when the Chat recorded one), else ""."""
    for item in reversed(history or []):
        if isinstance(item, dict) and item.get("role") == "assistant":
            return str(item.get("span") or "")
        if isinstance(item, (list, tuple)) and len(item) == 2:
            return ""
    return ""


AUXILIARIES = frozenset("is are was were be been am do does did has have had can could will would shall should may "
                        "might must".split())
PERSONAL = frozenset("he him she her they them".split())
POSSESSIVE = frozenset("his her their its".split())


def is_follow_up(question: str) -> bool:
    ws = words(question)
    if not ws:
        return False
    if any(w in ANAPHORA for w in ws) or _FOLLOW_UP_START.match(question):
        return True
    # "Why?", "How tall?", "In what year?" (no verb) lean on the previous turn; "What is printing?" and "Who was
    # Rollo?" name their own topic in one word
    terms = len(content_terms(question))
    return terms == 0 or (terms == 1 and not any(w in AUXILIARIES for w in ws))


def key_terms(text: str, limit: int = 6) -> list[str]:
    """The content words of `text` in their original form, in order, without duplicates."""
    out: list[str] = []
    for w in words(text):
        if w in STOPWORDS or w in ANAPHORA or len(w) < 3 or w in out:
            continue
        out.append(w)
    return out[:limit]


def _is_name(span: str) -> bool:
    ws = span.split()
    return bool(ws) and all(w[:1].isupper() or w.lower() in {"the", "de", "of", "von", "van"} for w in ws)


def rule_rewrite(question: str, previous: str, answer: str = "") -> str:
    """The follow-up with a pronoun replaced by the previous answer's name, plus the previous question's key terms
    that it lacks. After a "who" question the name stands for he/she/they ("Who built it?" → "When was *Thomas
    Greene* born?"); after another question whose answer is a name, for it/its ("What is the opera house called?"
    → "When did *the Teatro Amazonas* open?"). Otherwise "it" is the previous question's topic."""
    from rag.extract import expected_type

    q = question.strip()
    if answer and _is_name(answer):
        person = expected_type(previous) == "person"
        pronouns = r"he|him|she|her|they|them|his|their" if person else r"it|its"

        def swap(m: re.Match) -> str:
            w = m.group(0).lower()
            return f"{answer}'s" if w in POSSESSIVE else answer

        q = re.sub(rf"\b({pronouns})\b", swap, q, count=1, flags=re.IGNORECASE)
    have = set(content_terms(q))
    # the verb right after the previous question's wh-word ("Who *built* the lighthouse?") asked about the answer,
    # not the topic: "And how tall is it?" is about the lighthouse, not about building
    ws = words(previous)
    asked = ws[1] if len(ws) > 1 and ws[0] in ("who", "what", "which", "when", "where") and ws[1] not in STOPWORDS \
        else None
    extra = [w for w in key_terms(previous) if w != asked and content_terms(w) and content_terms(w)[0] not in have]
    return f"{q} ({' '.join(extra)})" if extra else q


def valid_rewrite(rewrite: str, question: str, previous: str, answer: str = "") -> bool:
    """A model rewrite is kept only if it keeps the follow-up's content words and invents no new ones."""
    r = rewrite.strip()
    if not r or "\n" in r or len(r) > 3 * (len(question) + len(previous)) or len(words(r)) < 3:
        return False
    rt = set(content_terms(r))
    own = set(content_terms(" ".join(w for w in words(question) if w not in ANAPHORA)))
    allowed = set(content_terms(question)) | set(content_terms(previous)) | set(content_terms(answer))
    if not own <= rt:
        return False
    if not rt - set(content_terms(question)):  # resolved nothing
        return False
    return rt <= allowed


def standalone_question(question: str, history: list, llm=None, settings=None) -> str:
    """The question as it should be searched: unchanged if it stands alone, else rewritten (model, then rules)."""
    prev = previous_question(history)
    if not prev or not is_follow_up(question):
        return question.strip()
    answer = previous_answer(history)
    from rag.extract import expected_type

    # the answer's name is what a he/she/they after a "who" question stands for; otherwise ("how tall is it?"
    # after "who built it?") the model must not see it, or it asks about the person
    named = answer if re.search(r"\b(he|him|his|she|her|they|them|their)\b", question, re.IGNORECASE) and \
        expected_type(prev) == "person" else ""
    if llm is not None:
        from rag import prompts

        try:
            out = llm.generate(prompts.rewrite_messages(prev, question, named), max_tokens=40, temperature=0.0,
                               stop=["\n"])
        except Exception:  # noqa: BLE001 — the rule-based rewrite below always works
            out = ""
        out = out.strip().strip('"').strip()
        if valid_rewrite(out, question, prev, named):
            return out
    return rule_rewrite(question, prev, answer)
