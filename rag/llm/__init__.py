"""Language models behind one small interface: `get_llm()` → an object with `stream(messages)` / `generate(messages)`.

Backends: `mlx` (mlx-lm, in process; what `auto` means everywhere) and `openai` (any OpenAI-compatible server:
mlx_lm.server, llama.cpp, vLLM, Ollama …). Loaded models are cached per process, because loading costs seconds and
the app asks many questions of the same model.
"""

from __future__ import annotations

import threading
from typing import Iterable, Iterator, Protocol, runtime_checkable

from rag.models import ModelError


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


# -- choosing and caching a backend ------------------------------------------------------------------------------
_CACHE: dict[tuple, LLM] = {}
_LOCK = threading.Lock()


from rag.settings import LlmSettings  # noqa: E402  (light: pydantic only)

DEFAULT_PACK = LlmSettings.model_fields["model"].default
# The local pack for each task while llm.model is the default, by measurement (docs/answers.md): Gemma 3 270M's
# two-shot answers cite the right moment and its titles, chapters and descriptions pass the checks more often
# (12/30 fields vs 7/30). Transcript cleanup ("enhance") and llasa-cli stay on llm.model, the instruct model.
TASK_PACKS = {"answer": "gemma-3-270m", "summary": "gemma-3-270m"}


def is_local(settings) -> bool:
    """True when the LLM runs in this process (backend auto/mlx), not on a server."""
    return (settings.llm.backend or "auto").lower() in ("auto", "mlx")


def task_model(settings, task: str) -> str:
    """The model for `task` ("answer" or "summary"): llm.<task>_model if set; else, while llm.model is the
    default pack and runs locally, the pack measured best at the task; else llm.model (a model you chose does
    everything)."""
    return _local_task_model(settings, task) if is_local(settings) else settings.llm.model


def _local_task_model(settings, task: str) -> str:
    explicit = getattr(settings.llm, f"{task}_model", None)
    if explicit:
        return explicit
    if settings.llm.model == DEFAULT_PACK:
        return TASK_PACKS.get(task, settings.llm.model)
    return settings.llm.model


def get_task_llm(settings=None, task: str = "answer") -> LLM:
    """get_llm() with the model for `task` (see task_model). With the openai backend the server's model
    (llm.remote_model) does every task, and the task's local model is the fallback if the server is unreachable."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    if not is_local(settings):
        return get_llm(settings, local_model=_local_task_model(settings, task))
    return get_llm(settings, model=_local_task_model(settings, task))


def get_llm(settings=None, model: str | None = None, backend: str | None = None,
            local_model: str | None = None) -> LLM:
    """The LLM for these settings (cached per process).

    `model` overrides `settings.llm.model` (a pack name, local folder or hub id) for the local backend, and the
    name sent to the server (`settings.llm.remote_model`) for the `openai` backend. `backend` overrides
    `settings.llm.backend`: `auto`/`mlx` → mlx-lm in process, `openai` → an OpenAI-compatible server.
    `local_model` (openai only) is loaded instead if the server is unreachable at first use (default: llm.model).
    """
    from rag.settings import api_root, get_settings

    settings = settings or get_settings()
    backend = (backend or settings.llm.backend or "auto").lower()
    if backend in ("auto", "mlx"):
        return load_mlx(model or settings.llm.model, settings)
    if backend == "openai":
        from rag.llm.openai import OpenAILLM

        base_url = settings.llm.base_url
        if base_url:
            base_url = api_root(base_url)
        else:
            raise ModelError("llm backend 'openai' needs a server address: set llm.base_url (AUDIORAG_LLM__BASE_URL)")
        remote = model or settings.llm.remote_model
        local = local_model or settings.llm.model
        key = ("openai", base_url, remote, settings.llm.api_key, local)
        with _LOCK:
            if key not in _CACHE:
                _CACHE[key] = OpenAILLM(
                    base_url, api_key=settings.llm.api_key, model=remote, settings=settings, local_model=local
                )
            return _CACHE[key]
    raise ModelError(f"unknown llm backend '{backend}'; use auto, mlx or openai")


def load_mlx(spec: str, settings=None) -> LLM:
    """The mlx-lm model for a pack name / folder / hub id, loaded once per process."""
    from rag.models.resolve import resolve_model
    from rag.settings import get_settings

    settings = settings or get_settings()
    key = ("mlx", spec, str(settings.models_path))  # looked up before resolving: a hit costs no pack check
    with _LOCK:
        if key not in _CACHE:
            from rag.llm.mlx import MlxLLM

            _CACHE[key] = MlxLLM(resolve_model(spec, "llm", settings), name=spec)
        return _CACHE[key]


def is_loaded(settings, model: str) -> bool:
    """Whether this process holds `model` loaded already (for a server backend: whether its client exists)."""
    with _LOCK:
        if is_local(settings):
            return ("mlx", model, str(settings.models_path)) in _CACHE
        from rag.settings import api_root

        url = api_root(settings.llm.base_url or "")
        return any(k[0] == "openai" and k[1] == url for k in _CACHE)


def clear_cache() -> None:
    """Forget loaded models (tests, or after changing settings in a long-lived process)."""
    with _LOCK:
        _CACHE.clear()
