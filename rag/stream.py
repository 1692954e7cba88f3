"""An answer as it happens, for the web app, its API, the CLI and the benchmark: rag.answer.ask's events plus
the model's own tokens the moment they are generated, the answer's state, its speed, its settings, and Stop.

rag.answer.ask checks the model's text a sentence at a time and only then emits it (a "token" event), so on its
own a page would see a sentence or two at once. Here the answering LLM is wrapped (TunedLLM) so every piece the
model writes is also passed on as a "draft" event — shown as provisional text until ask() confirms (or drops)
the sentence — and so the answer settings (temperature, top-p/top-k, max tokens, system prompt) reach the model
without ask() knowing about them. ask() runs in a worker thread; its events and the drafts meet in one queue.

Events, in order (those of rag.answer.ask pass through unchanged):
  {"type": "state", "state": "retrieving" | "answering" | "done" | "stopped"}
  {"type": "draft", "text": piece}          raw model text since the last confirmed piece (may be dropped)
  {"type": "stats", "ttft": s, "tps": t, "tokens": n, "model": name}   after every draft, and before the final
  …ask()'s query / passages / token / warning / final events
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Iterator

from rag.schema import AnswerSettings


class TunedLLM:
    """An LLM whose stream() applies the answer settings and reports every piece; generate() (follow-up
    rewriting) is passed through untouched."""

    def __init__(self, inner, opts: AnswerSettings, on_piece, cancel: threading.Event):
        self.inner, self.opts, self.on_piece, self.cancel = inner, opts, on_piece, cancel
        self.name = getattr(inner, "name", "llm")

    def generate(self, messages, **kw) -> str:
        return self.inner.generate(messages, **kw)

    def stream(self, messages, *, max_tokens: int = 512, temperature: float = 0.0, stop=None) -> Iterator[str]:
        o = self.opts
        if o.system_prompt.strip():
            rest = [m for m in messages if m.get("role") != "system"]
            messages = [{"role": "system", "content": o.system_prompt.strip()}, *rest]
        sampling = {k: v for k, v in (("top_p", o.top_p), ("top_k", o.top_k)) if v}
        gen = self.inner.stream(messages, max_tokens=o.max_tokens or max_tokens, temperature=o.temperature,
                                stop=stop, **sampling)
        try:
            for piece in gen:
                if self.cancel.is_set():
                    return
                self.on_piece(piece)
                yield piece
        finally:
            close = getattr(gen, "close", None)
            if close:
                close()


def task_settings(settings, opts: AnswerSettings):
    """The settings with `opts.model` as the answering model (unchanged when none is chosen)."""
    if not opts.model:
        return settings
    llm = settings.llm.model_copy(update={"answer_model": opts.model})
    if (settings.llm.backend or "auto").lower() not in ("auto", "mlx", "llamacpp"):
        llm = llm.model_copy(update={"remote_model": opts.model})
    return settings.model_copy(update={"llm": llm})


def _answer_llm(settings, opts: AnswerSettings, mode: str):
    """The answering LLM, or None when the mode needs none or it cannot be loaded (ask() then falls back to
    quoting the transcript and says why: that rule lives there)."""
    if mode == "extractive":
        return None
    from rag.llm import get_task_llm

    try:
        return get_task_llm(settings, "answer")
    except (ImportError, OSError, RuntimeError):
        return None


def _who(holder: dict, settings) -> str:
    """The engine that answered, asked late: a server's local fallback is chosen at its first use."""
    from rag.answer import answer_model_name
    from rag.llm import label

    return label(holder["llm"]) if holder.get("llm") is not None else answer_model_name(settings)


def live_answer(question: str, *, episode: str | None = None, history: list | None = None, settings=None,
                opts: AnswerSettings | None = None, cancel: threading.Event | None = None, store=None,
                embedder=None, speaker: str | None = None) -> Iterator[dict]:
    """Answer `question` as a stream of events (see the module docstring). Setting `cancel` stops the model at its
    next piece; the stream then ends with state "stopped" (no final event)."""
    from rag.answer import answer_model_name, ask, default_mode
    from rag.settings import get_settings

    opts = opts or AnswerSettings()
    cancel = cancel or threading.Event()
    settings = task_settings(settings or get_settings(), opts)
    mode = opts.mode or default_mode(settings)
    events: queue.Queue = queue.Queue()
    t0 = time.perf_counter()
    clock = {"retrieved": None, "first": None, "last": None, "pieces": 0}
    holder: dict = {}  # the answering LLM, once work() has it

    def on_piece(piece: str) -> None:
        now = time.perf_counter()
        clock["first"] = clock["first"] or now
        clock["last"], clock["pieces"] = now, clock["pieces"] + 1
        events.put({"type": "draft", "text": piece})

    def work() -> None:
        try:
            inner = holder["llm"] = _answer_llm(settings, opts, mode)
            llm = TunedLLM(inner, opts, on_piece, cancel) if inner is not None else None
            for ev in ask(question, episode=episode, history=history, settings=settings, mode=mode, k=opts.k,
                          store=store, embedder=embedder, llm=llm, speaker=speaker):
                if ev["type"] == "passages":
                    clock["retrieved"] = time.perf_counter()
                events.put(ev)
                if cancel.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 — re-raised in the caller's thread
            events.put({"type": "error", "error": exc})
        finally:
            events.put(None)

    def stats(named: bool = True) -> dict:
        since = clock["retrieved"] or t0
        first, last, n = clock["first"], clock["last"], clock["pieces"]
        tps = (n - 1) / (last - first) if n > 1 and last > first else None
        return {"type": "stats", "ttft": None if first is None else max(0.0, first - since), "tps": tps,
                "tokens": n, "model": _who(holder, settings) if named else None,
                "elapsed": time.perf_counter() - t0}

    worker = threading.Thread(target=work, name="answer", daemon=True)
    yield {"type": "state", "state": "retrieving"}
    worker.start()
    finished = False  # a Stop that lands after the final answer changes nothing
    try:
        while True:
            ev = events.get()
            if ev is None:
                break
            if cancel.is_set():
                continue  # drain what the worker still puts, show nothing more
            if ev["type"] == "error":
                raise ev["error"]
            if ev["type"] == "passages":
                yield ev
                yield {"type": "state", "state": "answering"}
                continue
            if ev["type"] == "final":
                finished = True
                yield stats()
                yield {**ev, "stats": stats()}
                yield {"type": "state", "state": "done"}
                continue
            yield ev
            if ev["type"] == "draft":
                yield stats()
    finally:
        if worker.is_alive():
            cancel.set()
            worker.join(timeout=30)
    if cancel.is_set() and not finished:
        yield stats(named=bool(clock["pieces"]))  # stopped before the model wrote anything: no model answered
        yield {"type": "state", "state": "stopped"}
