"""What `audiorag finetune` trains on, as records mlx-lm's datasets read: `{"text"}`, `{"messages"}` or
`{"prompt", "completion"}` (mlx_lm.tuner.datasets.create_dataset).

From the library: its transcripts as plain text passages (domain language, the default), cleanup pairs from the
transcript corrections (rag/corrections.py: heard → corrected) and question/answer pairs drawn from the transcripts
(which episode says what, and when). Or the user's own JSONL file. Part of the library's text is held out (never
trained on) to measure perplexity before and after; which part is fixed by each passage's text, so a resumed run
holds out the same passages.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from rag.errors import UserInputError

SOURCES = ("text", "corrections", "qa")
PASSAGE_WORDS = 64  # a training passage: under 96 tokens, so a step of 4 takes ~10 s on a busy 2-core CPU
HOLDOUT = 0.15  # the share of the library's passages kept for evaluation
CLEANUP_PROMPT = "Correct the mis-heard words in this transcript line. Write the corrected line only."


class FinetuneError(UserInputError):
    """Training data or a fine-tune request that cannot be used; one line."""


def passages(store, words: int = PASSAGE_WORDS) -> list[dict]:
    """Every episode's transcript cut into passages of about `words` words, on segment boundaries: dicts with
    text, episode_id, title, start."""
    out = []
    for ep in store.list_episodes():
        buf, start = [], None
        for seg in store.segments(ep.id):
            text = seg.text.strip()
            if not text:
                continue
            start = seg.start if start is None else start
            buf.append(text)
            if sum(len(t.split()) for t in buf) >= words:
                out.append({"text": " ".join(buf), "episode_id": ep.id, "title": ep.title, "start": start})
                buf, start = [], None
        if buf:
            out.append({"text": " ".join(buf), "episode_id": ep.id, "title": ep.title, "start": start})
    return out


def held_out(passage: dict, fraction: float = HOLDOUT) -> bool:
    """Whether a passage is kept for evaluation: by a hash of its text (stable across runs and resumes)."""
    digest = hashlib.sha256(passage["text"].encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") < fraction * 2**32


def split(found: list[dict], fraction: float = HOLDOUT) -> tuple[list[dict], list[dict]]:
    """(train, held out); at least one passage is held out when there are two or more."""
    test = [p for p in found if held_out(p, fraction)]
    if not test and len(found) >= 2:
        test = [max(found, key=lambda p: hashlib.sha256(p["text"].encode()).hexdigest())]
    train = [p for p in found if p not in test]
    return train, test


def correction_pairs(store) -> list[dict]:
    from rag.corrections import corrections

    return [{"messages": [{"role": "system", "content": CLEANUP_PROMPT}, {"role": "user", "content": c["heard"]},
                          {"role": "assistant", "content": c["corrected"]}]}
            for c in corrections(store) if c["heard"] and c["heard"] != c["corrected"]]


def qa_pairs(train: list[dict]) -> list[dict]:
    """A question per training passage about what its episode says at that moment, answered with the passage's
    first sentence and a citation in the answer format ([Episode @ mm:ss])."""
    from rag.schema import format_ts

    out = []
    for p in train:
        first = p["text"].split(". ")[0].rstrip(".") + "."
        cite = f"[{p['title']} @ {format_ts(p['start'])}]"
        out.append({"prompt": f"What is said in \"{p['title']}\" at {format_ts(p['start'])}?",
                    "completion": f"{first} {cite}"})
    return out


def record_kind(record) -> str:
    if not isinstance(record, dict):
        raise FinetuneError("each line must be a JSON object with text, messages, or prompt and completion")
    if isinstance(record.get("prompt"), str) and isinstance(record.get("completion"), str):
        return "completion"
    if isinstance(record.get("messages"), list) and record["messages"]:
        ok = all(isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") in
                 ("system", "user", "assistant") for m in record["messages"])
        if ok:
            return "messages"
    if isinstance(record.get("text"), str) and record["text"].strip():
        return "text"
    raise FinetuneError("each line must have text, messages (role/content), or prompt and completion")


def read_jsonl(path: str | Path) -> list[dict]:
    """The user's own training file: one JSON object a line, all of one kind (text, messages or
    prompt/completion)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FinetuneError(f"no training file at {path}")
    records, kinds = [], set()
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            kinds.add(record_kind(record))
        except (ValueError, FinetuneError) as exc:
            raise FinetuneError(f"{path.name} line {n}: {str(exc).splitlines()[0]}") from None
        records.append(record)
    if not records:
        raise FinetuneError(f"{path.name} holds no training records")
    if len(kinds) > 1:
        raise FinetuneError(f"{path.name} mixes record kinds ({', '.join(sorted(kinds))}): use one per file")
    return records


def as_plain(records: list[dict], has_template: bool) -> list[dict]:
    """Records for a tokenizer without a chat template (a base model) as plain text in the template-free prompt
    format the mlx backend uses for it (rag.llm.base.plain_prompt); unchanged when there is a template."""
    if has_template:
        return records
    from rag.llm.base import plain_prompt

    out = []
    for r in records:
        kind = record_kind(r)
        if kind == "text":
            out.append(r)
            continue
        messages = (r["messages"] if kind == "messages" else
                    [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["completion"]}])
        answer = messages[-1]["content"] if messages[-1]["role"] == "assistant" else ""
        rest = messages[:-1] if answer else messages
        out.append({"text": f"{plain_prompt(rest)} {answer}".rstrip()})
    return out


def training_data(store, sources: tuple[str, ...] = ("text",), user_file: str | None = None,
                  fraction: float = HOLDOUT) -> tuple[list[dict], list[dict], dict]:
    """(train records, held-out text records, a description of the data for the adapter's manifest).

    The held-out records are library passages never trained on; with a user file and an empty library, a share of
    the user's own records is held out instead."""
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise FinetuneError(f"unknown training data '{unknown[0]}'; use {', '.join(SOURCES)} or a JSONL file")
    train_p, test_p = split(passages(store), fraction)
    test = [{"text": p["text"]} for p in test_p]
    about: dict = {"library_passages": len(train_p) + len(test_p), "held_out_passages": len(test_p)}
    if user_file:
        records = read_jsonl(user_file)
        about.update(source=str(Path(user_file).expanduser()), records=len(records))
        if not test:
            cut = max(1, int(len(records) * fraction)) if len(records) >= 2 else 0
            test, records = records[:cut], records[cut:]
            about["held_out_records"] = cut
        return records, test, about
    parts: dict[str, list[dict]] = {
        "text": [{"text": p["text"]} for p in train_p] if "text" in sources else [],
        "corrections": correction_pairs(store) if "corrections" in sources else [],
        "qa": qa_pairs(train_p) if "qa" in sources else [],
    }
    about.update(source="library", sources=list(sources), **{f"{k}_records": len(v) for k, v in parts.items() if v})
    records = [r for k in SOURCES for r in parts[k]]
    if not records:
        raise FinetuneError("nothing to train on: the library has no transcripts"
                            + (" and no corrections" if "corrections" in sources else "")
                            + " (ingest some, or give --data FILE.jsonl)")
    return records, test, about
