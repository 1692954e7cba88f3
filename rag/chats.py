"""Conversations that last: every chat (its turns, citations and answer settings) is a row of the library's
`chats` table, so it survives restarts, travels with the library (local folder or object storage) and goes when
the library goes. `audiorag chats list|export|delete|rename` and the app's Chats tab read and change it.

One row per conversation, replaced whole on every change (a merge on `id`): conversations are small, and a row
that is always complete needs no joins to reopen.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from rag.schema import AnswerSettings, ChatTurn, Conversation, format_ts
from rag.store import StoreError, _fields, _from_row, _sql, _to_row

TABLE = "chats"
TITLE_CHARS = 60


def title_from(question: str) -> str:
    """A conversation's first title: its first question, cut at a word near TITLE_CHARS."""
    q = " ".join((question or "").split())
    if len(q) <= TITLE_CHARS:
        return q or "Untitled chat"
    cut = q[:TITLE_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


class Chats:
    """The conversations of one library (a rag.store.Store)."""

    def __init__(self, store):
        self.store = store

    def _table(self):
        import pyarrow as pa

        if TABLE not in self.store._tables:
            self.store._tables[TABLE] = self.store.db.create_table(TABLE, schema=pa.schema(_fields(Conversation)),
                                                                   exist_ok=True)
        return self.store._tables[TABLE]

    def new(self, question: str, episode: str | None = None, settings: AnswerSettings | None = None) -> Conversation:
        conv = Conversation(id=uuid.uuid4().hex[:12], title=title_from(question), episode=episode or None,
                            settings=settings or AnswerSettings())
        return self.save(conv)

    def save(self, conv: Conversation) -> Conversation:
        import pyarrow as pa

        conv = conv.model_copy(update={"updated": datetime.now(timezone.utc)})
        table = self._table()
        data = pa.Table.from_pylist([_to_row(conv)], schema=table.schema)
        table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(data)
        return conv

    def list(self) -> list[Conversation]:
        """Every conversation, most recently changed first."""
        rows = self._table().search().limit(None).to_list()
        return sorted((_from_row(Conversation, r) for r in rows), key=lambda c: c.updated, reverse=True)

    def get(self, ref: str) -> Conversation:
        """By id or unique id prefix; StoreError (one line) otherwise."""
        ref = (ref or "").strip()
        if not ref:
            raise StoreError("Choose a conversation first.")
        rows = self._table().search().where(f"id = {_sql(ref)}").limit(None).to_list()
        if not rows:
            rows = [r for r in self._table().search().select(["id"]).limit(None).to_list() if r["id"].startswith(ref)]
            if len(rows) > 1:
                raise StoreError(f"'{ref}' matches {len(rows)} conversations; give more of the id.")
            if rows:
                rows = self._table().search().where(f"id = {_sql(rows[0]['id'])}").limit(None).to_list()
        if not rows:
            raise StoreError(f"No conversation matches '{ref}' (see: audiorag chats list).")
        return _from_row(Conversation, rows[0])

    def rename(self, ref: str, title: str) -> Conversation:
        title = " ".join((title or "").split())
        if not title:
            raise StoreError("Type a title first.")
        return self.save(self.get(ref).model_copy(update={"title": title}))

    def add_turn(self, ref: str, turn: ChatTurn, settings: AnswerSettings | None = None) -> Conversation:
        conv = self.get(ref)
        update = {"turns": [*conv.turns, turn]}
        if settings is not None:
            update["settings"] = settings
        return self.save(conv.model_copy(update=update))

    def delete(self, ref: str) -> Conversation:
        from rag.audit import record

        conv = self.get(ref)
        self._table().delete(f"id = {_sql(conv.id)}")
        record(self.store.settings, "delete", role="conversation", conversation=conv.id, turns=len(conv.turns))
        return conv


# -- exports ---------------------------------------------------------------------------------------------------
def _seconds(x: float) -> float:
    return round(float(x), 2)


def to_json(conv: Conversation) -> dict:
    """The conversation as plain JSON: every citation with episode id, title, start/end seconds and label."""
    out = conv.model_dump(mode="json")
    for turn, raw in zip(conv.turns, out["turns"]):
        raw["citations"] = [{"label": c.label, "episode_id": c.episode_id, "title": c.title,
                             "start": _seconds(c.start), "end": _seconds(c.end), "text": c.text}
                            for c in turn.citations]
    return out


def to_markdown(conv: Conversation, play_url=None) -> str:
    """The conversation as Markdown. Every citation is `[Title @ mm:ss]` with its episode id and seconds, and a
    link that plays it when `play_url(citation)` gives one (the library's audio file with a `#t=` fragment)."""
    lines = [f"# {conv.title}", "",
             f"Conversation `{conv.id}` · started {conv.created:%Y-%m-%d %H:%M} UTC · "
             f"{len(conv.turns)} question(s)" + (f" · episode `{conv.episode}`" if conv.episode else ""), ""]
    for t in conv.turns:
        lines += [f"## {t.question}", "", t.answer.strip() + (" *(stopped)*" if t.stopped else ""), ""]
        if t.citations:
            lines.append("Sources:")
            for c in t.citations:
                url = play_url(c) if play_url else ""
                label = f"[{c.label[1:-1]}]({url})" if url else c.label
                lines.append(f"- {label} — episode `{c.episode_id}`, {_seconds(c.start)} s "
                             f"({format_ts(c.start)}–{format_ts(c.end)}): “{c.text.strip()}”")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def export(conv: Conversation, fmt: str, play_url=None) -> str:
    if fmt == "json":
        return json.dumps(to_json(conv), indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return to_markdown(conv, play_url)
    raise StoreError(f"Unknown chat export format '{fmt}' (choose md or json).")


def file_play_url(store):
    """play_url for exports outside the app: the local audio copy with a media fragment (`file:///…#t=83.50`)."""
    from pathlib import Path

    def url(c) -> str:
        ep = store.get_episode(c.episode_id)
        if ep is None or not ep.audio_path or "://" in ep.audio_path:
            return ""
        return Path(ep.audio_path).resolve().as_uri() + f"#t={c.start:.2f}"

    return url


# -- answering inside a conversation ------------------------------------------------------------------------------
def answer_turn(chats: Chats, conv_id: str, question: str, *, cancel=None, settings=None, store=None,
                embedder=None):
    """rag.stream.live_answer for the next question of a stored conversation (its history, scope and answer
    settings), then the turn is stored — also when Stop cut the answer short. The last event is
    {"type": "stored", "conversation": Conversation}."""
    from rag.stream import live_answer

    conv = chats.get(conv_id)
    text, query, final, stats = "", question, None, {}
    for ev in live_answer(question, episode=conv.episode, history=conv.history() or None, settings=settings,
                          opts=conv.settings, cancel=cancel, store=store, embedder=embedder):
        kind = ev["type"]
        if kind == "token":
            text += ev["text"]
        elif kind == "query":
            query = ev["text"]
        elif kind == "stats":
            stats = ev
        elif kind == "final":
            final = ev["answer"]
        yield ev
    turn = ChatTurn(question=question, query=query, answer=final.answer if final else text.strip(),
                    span=final.span.text if final and final.span else None,
                    abstained=bool(final and final.abstained), stopped=final is None,
                    citations=list(final.citations) if final else [], model=stats.get("model"),
                    ttft=stats.get("ttft"), tps=stats.get("tps"))
    yield {"type": "stored", "conversation": chats.add_turn(conv.id, turn)}
