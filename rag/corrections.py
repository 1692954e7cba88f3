"""Transcript corrections as data: every edited segment (rag/edit.py) as a (heard, corrected, audio span) pair.

`heard` is the text the transcript had before its first edit (kept in `segment_edits`); `corrected` is the text the
segment holds now. Both `audiorag corrections export` and the fine-tune's cleanup pairs (rag/finetune_data.py) read
them from here.
"""

from __future__ import annotations

import json
from typing import Iterator


def corrections(store) -> Iterator[dict]:
    """One dict per corrected segment, oldest edit first: episode_id, title, segment_id, start, end, heard,
    corrected, edited (ISO time)."""
    from rag.edit import EDITS, _edits

    if not store._has(EDITS):
        return
    rows = _edits(store).search().limit(None).to_list()
    titles: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: (r["edited"], r["episode_id"], r["id"])):
        episode_id, segment_id = row["episode_id"], int(row["id"])
        if episode_id not in titles:
            episode = store.get_episode(episode_id)
            titles[episode_id] = episode.title if episode else ""
        current = store.segments(episode_id, ids=[segment_id])
        if not current:  # the episode was re-ingested or deleted since: nothing to pair the original with
            continue
        original = json.loads(row["original"])
        yield {"episode_id": episode_id, "title": titles[episode_id], "segment_id": segment_id,
               "start": current[0].start, "end": current[0].end, "heard": original.get("text", "").strip(),
               "corrected": current[0].text.strip(), "edited": row["edited"].isoformat()}


def to_jsonl(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
