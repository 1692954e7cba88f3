"""A conversation over the library: the history, follow-ups rewritten (rag.followup), answers streamed (rag.answer)."""

from __future__ import annotations

from typing import Iterator

from rag.answer import ask


class Chat:
    """A conversation over the library: keeps the history, rewrites follow-ups, streams answers."""

    def __init__(self, settings=None, episode: str | None = None, mode: str | None = None, llm=None,
                 store=None, embedder=None):
        self.settings, self.episode, self.mode = settings, episode, mode
        self.llm, self.store, self.embedder = llm, store, embedder
        self.history: list[dict] = []

    def reset(self) -> None:
        self.history = []

    def ask(self, question: str) -> Iterator[dict]:
        query = question
        final = None
        for event in ask(question, episode=self.episode, history=self.history, settings=self.settings,
                         mode=self.mode, store=self.store, embedder=self.embedder, llm=self.llm):
            if event["type"] == "query":
                query = event["text"]
            if event["type"] == "final":
                final = event["answer"]
            yield event
        self.history.append({"role": "user", "content": question, "query": query})
        self.history.append({"role": "assistant", "content": final.answer if final else "",
                             "span": final.span.text if final and final.span else ""})
