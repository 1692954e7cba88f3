"""Every prompt the LLM sees, in one place, with the few-shot examples the tiny local models need.

The local packs are a 135M instruct model and a 270M *base* model. Both follow a pattern far better than an
instruction, so each task comes with short worked examples, and each asks for one small plain-text thing
(one sentence, one title, a comma-separated list): our code assembles structure (JSON, citations, chapters)
itself and validates every piece. A builder returns chat messages (`[{"role": …, "content": …}]`); the LLM backend
renders them with the model's chat template, or as plain text for a base model.
"""

from __future__ import annotations

Messages = list[dict[str, str]]

IDK = "I don't know."


def _shots(system: str, examples: list[tuple[str, str]], user: str) -> Messages:
    msgs: Messages = [{"role": "system", "content": system}]
    for q, a in examples:
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    msgs.append({"role": "user", "content": user})
    return msgs


# -- answering ------------------------------------------------------------------------------------------------
ANSWER_SYSTEM = (
    "You answer questions about recordings using only the transcript passages given. "
    "Reply with one short sentence taken from the passages. "
    f"If the passages do not answer the question, reply exactly: {IDK}"
)


def passages_block(passages: list[str]) -> str:
    return "\n".join(f"Passage {i}: {p.strip()}" for i, p in enumerate(passages, 1))


def answer_user(question: str, passages: list[str]) -> str:
    return f"{passages_block(passages)}\n\nQuestion: {question.strip()}"


ANSWER_EXAMPLES: list[tuple[str, str]] = [
    (
        answer_user(
            "When did the museum open?",
            ["The museum first opened its doors in 1902, after ten years of building.",
             "Today it has more than a million visitors each year."],
        ),
        "The museum opened in 1902.",
    ),
    (
        answer_user(
            "What does the guest recommend for beginners?",
            ["For beginners I always recommend a small pot of basil on the windowsill.",
             "Tomatoes need much more sun and space."],
        ),
        "The guest recommends a small pot of basil on the windowsill.",
    ),
    (
        answer_user(
            "How much does the bridge cost?",
            ["The bridge crosses the river at its narrowest point.", "It was painted red in the sixties."],
        ),
        IDK,
    ),
]


def answer_messages(question: str, passages: list[str]) -> Messages:
    return _shots(ANSWER_SYSTEM, ANSWER_EXAMPLES, answer_user(question, passages))


# `--mode model` (rag/answer_model.py): an instruct model of 1.5B parameters or more follows an instruction
# without worked examples, and decides itself whether the passages answer. Its refusal is our own sentence.
MODEL_ANSWER_SYSTEM = (
    "You answer questions about recordings using only the transcript passages given. The passages are speech "
    "transcripts: expect misspelled names and words. Answer in one sentence, with the passages' own words. "
    "If the passages do not answer the question, reply exactly: That isn't in your library."
)


def model_answer_messages(question: str, passages: list[str]) -> Messages:
    return [{"role": "system", "content": MODEL_ANSWER_SYSTEM},
            {"role": "user", "content": answer_user(question, passages)}]


# The per-passage answerability judge of `--mode model` (rag/answer_judge.py): scored by p(yes) vs p(no) of the
# reply's first token. The question comes first so llama.cpp reuses its prompt for the next passage.
JUDGE_SYSTEM = (
    "You check whether a passage of a speech transcript answers a question. Expect misspelled names and words. "
    "Reply yes if the passage says the answer, no if it does not."
)


def judge_messages(question: str, passage: str) -> Messages:
    user = (f"Question: {question.strip()}\n\nPassage: {passage.strip()}\n\n"
            "Does this passage answer the question? Reply yes or no.")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


# Phrases by which a model says the passages do not hold the answer.
IDK_PATTERNS = (
    r"\bi (do not|don't|dont) know\b",
    r"\bnot (mentioned|stated|provided|given|specified|discussed|covered)\b",
    r"\b(no|not enough) information\b",
    r"\b(cannot|can't|can not|unable to) (answer|find|determine|tell)\b",
    r"\b(passages?|transcripts?|recordings?|text) (do|does) not (say|mention|contain|answer|include)\b",
    r"\b(isn't|is not) in (the|your) (library|passages?|transcripts?)\b",
)

NOT_IN_LIBRARY = "That isn't in your library."
NOT_IN_EPISODE = "This episode does not say."

# -- follow-up rewriting --------------------------------------------------------------------------------------
REWRITE_SYSTEM = (
    "Rewrite the follow-up question so it can be understood without the conversation. "
    "Replace words like it, he, she, they, that with what they refer to. Reply with the question only."
)

REWRITE_EXAMPLES: list[tuple[str, str]] = [
    ("Previous question: Who built the lighthouse?\nFollow-up: When did he finish it?",
     "When did the builder finish the lighthouse?"),
    ("Previous question: What is sourdough bread made of?\nFollow-up: How long does it rise?",
     "How long does sourdough bread rise?"),
    ("Previous question: What did the mayor say about the new park?\nFollow-up: And about the library?",
     "What did the mayor say about the library?"),
]


def rewrite_messages(previous_question: str, follow_up: str, previous_answer: str = "") -> Messages:
    said = f"\nPrevious answer: {previous_answer.strip()}" if previous_answer.strip() else ""
    return _shots(REWRITE_SYSTEM, REWRITE_EXAMPLES,
                  f"Previous question: {previous_question.strip()}{said}\nFollow-up: {follow_up.strip()}")


# -- summaries and metadata -----------------------------------------------------------------------------------
SUMMARY_SYSTEM = "You summarize parts of transcripts of recordings. Reply with plain sentences, no lists, no headings."

SUMMARY_EXAMPLES: list[tuple[str, str]] = [
    (
        "Summarize this transcript part in one or two sentences.\n\nTranscript: so today we are talking about "
        "bees, um, and why the honey bee population dropped so much, uh, in the last ten years. The main reasons "
        "are pesticides, a parasite called the varroa mite, and the loss of wild flowers.",
        "The speakers discuss why honey bee numbers fell over the last ten years: pesticides, the varroa mite and "
        "the loss of wild flowers.",
    ),
]


def summary_map_messages(text: str) -> Messages:
    return _shots(SUMMARY_SYSTEM, SUMMARY_EXAMPLES,
                  f"Summarize this transcript part in one or two sentences.\n\nTranscript: {text.strip()}")


def summary_reduce_messages(partials: list[str]) -> Messages:
    joined = "\n".join(f"- {p.strip()}" for p in partials)
    return _shots(
        SUMMARY_SYSTEM,
        [(
            "Combine these notes about one recording into a summary of two or three sentences.\n\nNotes:\n"
            "- The host introduces a guest who keeps bees in the city.\n"
            "- The guest explains why bee numbers fell: pesticides and a parasite.\n"
            "- They end with tips for planting wild flowers.",
            "A city beekeeper explains why bee numbers fell, blaming pesticides and a parasite, and ends with tips "
            "for planting wild flowers.",
        )],
        f"Combine these notes about one recording into a summary of two or three sentences.\n\nNotes:\n{joined}",
    )


TITLE_SYSTEM = "You write short titles for recordings. Reply with the title only: three to eight words."

TITLE_EXAMPLES: list[tuple[str, str]] = [
    ("Summary: A city beekeeper explains why bee numbers fell, blaming pesticides and a parasite.",
     "Why the Bees Are Disappearing"),
    ("Summary: The mayor presents the budget for the new public library and answers questions about its cost.",
     "The New Library Budget"),
]


def title_messages(summary: str) -> Messages:
    return _shots(TITLE_SYSTEM, TITLE_EXAMPLES, f"Summary: {summary.strip()}")


DESCRIPTION_SYSTEM = "You write a one-sentence description of a recording for a listing. Reply with one sentence."

DESCRIPTION_EXAMPLES: list[tuple[str, str]] = [
    ("Summary: A city beekeeper explains why bee numbers fell, blaming pesticides and a parasite, and ends with "
     "tips for planting wild flowers.",
     "A conversation with a city beekeeper about the decline of bees and what gardeners can do."),
]


def description_messages(summary: str) -> Messages:
    return _shots(DESCRIPTION_SYSTEM, DESCRIPTION_EXAMPLES, f"Summary: {summary.strip()}")


TAGS_SYSTEM = "You tag recordings by topic. Reply with three to six short lowercase tags separated by commas."

TAGS_EXAMPLES: list[tuple[str, str]] = [
    ("Summary: A city beekeeper explains why bee numbers fell, blaming pesticides and a parasite.",
     "bees, beekeeping, pesticides, environment"),
    ("Summary: The mayor presents the budget for the new public library and answers questions about its cost.",
     "local politics, library, budget"),
]


def tags_messages(summary: str) -> Messages:
    return _shots(TAGS_SYSTEM, TAGS_EXAMPLES, f"Summary: {summary.strip()}")


CHAPTER_SYSTEM = "You write a heading for one part of a recording. Reply with the heading only: two to six words."

CHAPTER_EXAMPLES: list[tuple[str, str]] = [
    ("Transcript: The main reasons are pesticides, a parasite called the varroa mite, and the loss of wild "
     "flowers along the roads.",
     "Why Bees Are Declining"),
    ("Transcript: Before we finish, a few tips: plant clover, leave a corner of the garden wild, and do not "
     "spray in the morning.",
     "Tips for Gardeners"),
]


def chapter_messages(text: str) -> Messages:
    return _shots(CHAPTER_SYSTEM, CHAPTER_EXAMPLES, f"Transcript: {text.strip()}")


# -- transcript cleanup (ingest --enhance) --------------------------------------------------------------------
ENHANCE_SYSTEM = (
    "You clean up speech transcripts. Each line is one segment: keep its [number] and its line, in the same "
    "order. Fix punctuation and capitalization and remove filler words (um, uh, you know). "
    "Do not add, merge, split or drop lines, and do not change the meaning."
)

ENHANCE_EXAMPLES: list[tuple[str, str]] = [
    (
        "[0] um so welcome back everybody to the show\n"
        "[1] today uh we're talking with doctor smith about sleep\n"
        "[2] you know why it matters so much",
        "[0] So, welcome back everybody to the show.\n"
        "[1] Today we're talking with Doctor Smith about sleep,\n"
        "[2] why it matters so much.",
    ),
]


def enhance_lines(lines: list[tuple[int, str]]) -> str:
    return "\n".join(f"[{i}] {t.strip()}" for i, t in lines)


def enhance_messages(lines: list[tuple[int, str]]) -> Messages:
    return _shots(ENHANCE_SYSTEM, ENHANCE_EXAMPLES, enhance_lines(lines))


# -- plain chat (llasa-cli --chat / --prompt) -----------------------------------------------------------------
CHAT_SYSTEM = "You are a helpful assistant. Answer briefly."
