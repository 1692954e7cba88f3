"""Conversations kept in the library (rag.chats): real LanceDB on disk, a fresh Store to show they survive."""

from __future__ import annotations

import json

import pytest

from rag.chats import Chats, export, title_from, to_json
from rag.schema import AnswerSettings, ChatTurn, Citation
from rag.store import Store, StoreError


def _turn(question: str, start: float) -> ChatTurn:
    c = Citation(episode_id="ep0123456789abcd", title="Harbor talk", start=start, end=start + 4.0,
                 text="Greene built the lighthouse.")
    return ChatTurn(question=question, query=question, answer=f"Greene built it. {c.label}", citations=[c],
                    model="gemma-3-270m", ttft=0.4, tps=12.0)


def test_conversations_survive_a_new_store_and_export_every_citation(settings):
    chats = Chats(Store(settings))
    conv = chats.new("Who built the lighthouse on the northern cliff above the harbour town?",
                     settings=AnswerSettings(temperature=0.3, k=7))
    assert conv.title == "Who built the lighthouse on the northern cliff above the…"
    chats.add_turn(conv.id, _turn("Who built the lighthouse?", 83.5))
    chats.add_turn(conv.id, _turn("When?", 125.25))
    other = chats.new("Second chat")

    again = Chats(Store(settings))  # as after a restart
    listed = again.list()
    assert [c.id for c in listed] == [other.id, conv.id]  # most recently changed first
    kept = again.get(conv.id[:6])  # a unique prefix will do
    assert [t.question for t in kept.turns] == ["Who built the lighthouse?", "When?"]
    assert kept.settings.temperature == 0.3 and kept.settings.k == 7
    assert kept.history()[0] == {"role": "user", "content": "Who built the lighthouse?",
                                 "query": "Who built the lighthouse?"}

    md = export(kept, "md", play_url=lambda c: f"/play#t={c.start:.2f}")
    for seconds, label in ((83.5, "[Harbor talk @ 01:23]"), (125.25, "[Harbor talk @ 02:05]")):
        assert label in md and f"episode `ep0123456789abcd`, {seconds} s" in md
    assert "(/play#t=83.50)" in md
    data = json.loads(export(kept, "json"))
    assert data == json.loads(json.dumps(to_json(kept)))
    assert [c["start"] for t in data["turns"] for c in t["citations"]] == [83.5, 125.25]
    assert data["turns"][0]["citations"][0]["label"] == "[Harbor talk @ 01:23]"

    assert again.rename(conv.id, "  Lighthouse  ").title == "Lighthouse"
    again.delete(other.id)
    assert [c.title for c in Chats(Store(settings)).list()] == ["Lighthouse"]


def test_mistakes_are_one_line(settings):
    chats = Chats(Store(settings))
    with pytest.raises(StoreError, match="^No conversation matches 'nope'"):
        chats.get("nope")
    with pytest.raises(StoreError, match="^Choose a conversation first"):
        chats.get("")
    conv = chats.new("q")
    with pytest.raises(StoreError, match="^Type a title first"):
        chats.rename(conv.id, "   ")
    with pytest.raises(StoreError, match="Unknown chat export format 'pdf'"):
        export(conv, "pdf")
    assert title_from("") == "Untitled chat"
