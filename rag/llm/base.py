"""What every LLM backend shares: the protocol, the plain prompt for template-free models, stop-string filtering.

Backends (rag/llm/mlx.py, openai.py, or a plugin's) import from here, never from the package: the package
(rag/llm/__init__.py) chooses and caches backends through rag.plugins.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Protocol, runtime_checkable


@runtime_checkable
class LLM(Protocol):
    name: str

    def stream(
        self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.0, stop: list[str] | None = None,
        top_p: float = 0.0, top_k: int = 0,
    ) -> Iterator[str]:
        """Yield the answer as text pieces, as they are produced (top_p/top_k 0: off)."""
        ...

    def generate(
        self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.0, stop: list[str] | None = None
    ) -> str:
        """The whole answer as one string."""
        ...


class BaseLLM:
    """`generate` in terms of `stream`, shared by every backend."""

    name: str = "llm"

    def stream(
        self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.0, stop: list[str] | None = None,
        top_p: float = 0.0, top_k: int = 0,
    ) -> Iterator[str]:
        raise NotImplementedError

    def generate(
        self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.0, stop: list[str] | None = None
    ) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop))


# -- prompt helpers --------------------------------------------------------------------------------------------
PLAIN_STOP = "\nUser:"


def plain_prompt(messages: list[dict]) -> str:
    """A template-free chat prompt for tokenizers without a chat template (e.g. the Gemma 3 270M base model):
    the system text as a preamble, then "User: …" / "Assistant: …" turns, ending with "Assistant:"."""
    parts: list[str] = []
    for m in messages:
        role, content = m.get("role", "user"), str(m.get("content", "")).strip()
        if role == "system":
            parts.append(content + "\n")
        elif role == "assistant":
            parts.append(f"Assistant: {content}")
        else:
            parts.append(f"User: {content}")
    parts.append("Assistant:")
    return "\n".join(parts)


class StopFilter:
    """Cut a text stream at the first of some stop strings, even when a stop string spans several pieces.

    Text that could be the start of a stop string is held back until the next piece decides it.
    """

    def __init__(self, stops: Iterable[str] | None):
        self.stops = [s for s in (stops or []) if s]
        self.held = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Text safe to emit now ('' if none). After a stop string is seen, `stopped` is True and the rest is dropped."""
        if self.stopped:
            return ""
        if not self.stops:
            return piece
        self.held += piece
        cuts = [i for i in (self.held.find(s) for s in self.stops) if i >= 0]
        if cuts:
            self.stopped = True
            out, self.held = self.held[: min(cuts)], ""
            return out
        keep = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(self.held)), keep, -1):
                if self.held.endswith(s[:n]):
                    keep = n
                    break
        out = self.held[: len(self.held) - keep]
        self.held = self.held[len(self.held) - keep :]
        return out

    def flush(self) -> str:
        out, self.held = ("" if self.stopped else self.held), ""
        return out


def filter_stops(pieces: Iterable[str], stops: Iterable[str] | None) -> Iterator[str]:
    f = StopFilter(stops)
    for piece in pieces:
        out = f.feed(piece)
        if out:
            yield out
        if f.stopped:
            return
    tail = f.flush()
    if tail:
        yield tail
