"""An OpenAI-compatible chat server as the LLM (mlx_lm.server, llama.cpp server, vLLM, Ollama, a hosted API).

If the server cannot be reached the first time it is used, answers come from the local backend (what `auto`
picks: llama.cpp or mlx-lm) instead, with a warning on stderr and in the log: a laptop that lost its server should still answer. Once the server has answered,
later connection errors are raised, so a server dying mid-session is not silently papered over.
"""

from __future__ import annotations

import logging
import sys
from typing import Iterator

from rag.llm.base import BaseLLM, filter_stops
from rag.models import ModelError

log = logging.getLogger(__name__)


class OpenAILLM(BaseLLM):
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str | None = None,
        settings=None,
        timeout: float = 600.0,
        local_model: str | None = None,
    ):
        from rag.audit import openai_client
        from rag.settings import get_settings

        self.base_url = base_url
        self.model = model
        self.settings = settings
        self.local_model = local_model  # what to load if the server is unreachable (default: llm.model)
        self.client = openai_client(settings or get_settings(), "llm", base_url, api_key, timeout=timeout,
                                    max_retries=1)
        self.fallback = None  # the local LLM used when the server was unreachable at first use
        self._reached = False

    @property
    def name(self) -> str:  # type: ignore[override]
        if self.fallback is not None:
            return f"{self.fallback.name} (local fallback for {self.base_url})"
        return f"openai:{self.model or 'default'}@{self.base_url}"

    def _fall_back(self, exc: Exception):
        from rag.llm import auto_backend, load_local
        from rag.settings import get_settings

        settings = self.settings or get_settings()
        local = self.local_model or settings.llm.model
        msg = (
            f"LLM server {self.base_url} is unreachable ({type(exc).__name__}: {exc}); "
            f"answering with the local model '{local}' instead"
        )
        log.warning(msg)
        print(f"warning: {msg}", file=sys.stderr, flush=True)
        self.fallback = load_local(local, settings, auto_backend(local, settings))
        return self.fallback

    def _chunks(self, messages, max_tokens, temperature, stop, top_p=0.0, top_k=0) -> Iterator[str]:
        import openai

        try:
            stream = self.client.chat.completions.create(
                model=self.model if self.model else openai.omit,
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                stop=list(stop) if stop else openai.omit,
                top_p=top_p if top_p else openai.omit,
                extra_body={"top_k": top_k} if top_k else None,  # vLLM, llama.cpp and mlx_lm.server read it
                stream=True,
            )
        except openai.APIConnectionError as exc:
            if self._reached:
                raise ModelError(f"LLM server {self.base_url} stopped answering: {exc}") from exc
            yield from self._fall_back(exc).stream(
                messages, max_tokens=max_tokens, temperature=temperature, stop=stop, top_p=top_p, top_k=top_k
            )
            return
        except openai.NotFoundError as exc:
            raise ModelError(
                f"LLM server {self.base_url} has no model '{self.model}' (set llm.remote_model): {exc}"
            ) from exc
        self._reached = True
        with stream:
            for chunk in stream:
                if not chunk.choices:
                    continue
                piece = chunk.choices[0].delta.content
                if piece:
                    yield piece

    def stream(
        self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.0, stop: list[str] | None = None,
        top_p: float = 0.0, top_k: int = 0,
    ) -> Iterator[str]:
        if self.fallback is not None:
            yield from self.fallback.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                            top_p=top_p, top_k=top_k)
            return
        # Servers differ in how they honour `stop`; cut client-side as well.
        yield from filter_stops(self._chunks(messages, max_tokens, temperature, stop, top_p, top_k), stop)


def load(spec: str | None, settings, local_model: str | None = None) -> OpenAILLM:
    """The `openai` LLM backend's factory (rag.plugins): a client for the server at llm.base_url, asking for
    model `spec` (llm.remote_model; None: the server's default)."""
    from rag.settings import api_root

    if not settings.llm.base_url:
        raise ModelError("llm backend 'openai' needs a server address: set llm.base_url (AUDIORAG_LLM__BASE_URL)")
    return OpenAILLM(api_root(settings.llm.base_url), api_key=settings.llm.api_key, model=spec, settings=settings,
                     local_model=local_model or settings.llm.model)
