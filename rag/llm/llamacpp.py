"""llama.cpp in process (xllamacpp, prebuilt wheels of llama.cpp's server code): the packs' GGUFs as shipped.

Same behaviour as the mlx backend (rag/llm/mlx.py): the chat template when the pack has one (the model's own,
from the GGUF), else the plain "User:/Assistant:" prompt with its stop; end-of-generation tokens stop; caller stop
strings through StopFilter; generation serialized per model; closing the stream stops generation (the token
callback returns True on the next token).

Nothing listens: xllamacpp's Server always starts llama.cpp's HTTP server. Here it binds a Unix socket in a
private folder (mode 0700, removed on exit) instead of a TCP port, requires an API key made fresh per process and
never shown, allows no CORS origin, and has the web UI and the optional endpoints off (`lock_down`).
docs/privacy.md says so, tests/test_llm_llamacpp.py proves a request without the key is refused.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Iterator

from rag.llm.base import PLAIN_STOP, BaseLLM, StopFilter, plain_prompt
from rag.models import PACK_GGUF as GGUF
from rag.models import ModelError

N_CTX = 8192  # tokens of context; the answer and summary prompts stay well under it


def available() -> bool:
    """Whether xllamacpp imports here (it ships wheels for Linux x86_64, which pyproject.toml installs it on)."""
    import importlib.util

    return importlib.util.find_spec("xllamacpp") is not None


def pack_gguf(path: Path | str) -> Path | None:
    """The GGUF to load for a model path: the path itself if it is a .gguf file, a pack folder's model.gguf."""
    path = Path(path)
    if path.is_file() and path.suffix == ".gguf":
        return path
    return path / GGUF if (path / GGUF).is_file() else None


def folder_has_chat_template(path: Path | str) -> bool:
    """Whether a model folder declares a chat template (the same test the mlx backend's tokenizer makes): a
    chat_template.jinja, or chat_template in tokenizer_config.json. A bare .gguf file: its own (llama.cpp's)."""
    path = Path(path)
    if path.is_file():
        return True
    if (path / "chat_template.jinja").is_file():
        return True
    try:
        return bool(json.loads((path / "tokenizer_config.json").read_text()).get("chat_template"))
    except (OSError, ValueError):
        return False


def lock_down(params) -> str:
    """Shut llama.cpp's HTTP server off as far as xllamacpp allows: a Unix socket in a fresh private folder (no
    TCP port at all), a random API key, no CORS origin, no web UI or extra endpoints. Returns the folder."""
    from rag.private import run_dir

    # mode 0700, inside this process's private run dir (removed at exit, also if the finalizer never runs)
    folder = tempfile.mkdtemp(prefix="llm-", dir=run_dir())
    params.hostnames = [os.path.join(folder, "llm.sock")]
    params.port = 0
    params.api_keys = [secrets.token_urlsafe(32)]  # never shown; kept only by the server (and _key, for tests)
    params.cors_origins = ""
    for flag in ("ui", "endpoint_metrics", "endpoint_props", "endpoint_slots", "ui_mcp_proxy", "webui_mcp_proxy"):
        if hasattr(params, flag):
            setattr(params, flag, False)
    return folder


def _params(gguf: Path, threads: int, n_ctx: int):
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = n_ctx
    params.n_parallel = 1
    for cpu in (params.cpuparams, params.cpuparams_batch):
        cpu.n_threads = threads
        cpu.poll = 0  # idle worker threads sleep instead of spinning for cores another process may hold
    params.verbosity = -1
    return params


class LlamaCppLLM(BaseLLM):
    """One llama.cpp server per thread count in use: each request runs on the one sized to the cores other
    processes leave free at that moment (rag.runtime.free_cores_now), started when first needed. The weights are
    mmap'ed, so a second server costs its context (KV cache), not another copy of the model. Measured on 2 cores
    beside a busy process: 12–25 tokens/s with 1 thread vs 0.8–4.5 with 2 (docs/benchmarks.md)."""

    backend = "llama.cpp"

    def __init__(self, gguf: Path | str, name: str | None = None, chat_template: bool = True,
                 threads: int | None = None, n_ctx: int = N_CTX):
        from rag.runtime import free_cores, usable_cores

        self.path = Path(gguf)
        self.name = name or str(gguf)
        self.has_chat_template = chat_template
        self.n_ctx = n_ctx
        self.max_threads = threads or usable_cores()  # `threads` given: never more than that
        self._servers: dict[int, object] = {}
        self._keys: dict[int, str] = {}
        self._folders: list[str] = []
        self._finalizer = weakref.finalize(self, _remove_all, self._folders)
        self.threads = threads or free_cores()
        self.server = self._start(self.threads)
        self._key = self._keys[self.threads]
        self._lock = threading.Lock()
        self.last_stats: dict = {}

    def _start(self, threads: int):
        """A llama.cpp server of this model with `threads` threads, locked down (lock_down)."""
        import xllamacpp as xlc

        params = _params(self.path, threads, self.n_ctx)
        self._folders.append(lock_down(params))
        try:
            server = xlc.Server(params)
        except Exception as exc:
            self._finalizer()
            raise ModelError(f"llama.cpp could not load {self.path}: {exc}") from exc
        self._keys[threads] = params.api_keys[0]
        self._servers[threads] = server
        return server

    def _server_now(self) -> tuple[int, object]:
        """(threads, server) to run this request on: the one with as many threads as cores are free now."""
        from rag.runtime import free_cores_now

        if self.server is None:
            raise ModelError(f"llama.cpp model {self.name} was closed; load it again")
        n = max(1, min(self.max_threads, free_cores_now()))
        return n, self._servers[n] if n in self._servers else self._start(n)

    @property
    def listening_address(self) -> str:
        return str(getattr(self.server, "listening_address", ""))

    def request(self, messages: list[dict], stop: list[str] | None) -> tuple[str, dict, list[str]]:
        """(handler, request body, stops) for a chat: chat completions with the model's template when the pack
        has one, else a raw completion of the plain prompt that stops at the next "User:" turn."""
        if self.has_chat_template:
            return "handle_chat_completions", {"messages": messages}, [*(stop or [])]
        return "handle_completions", {"prompt": plain_prompt(messages)}, [*(stop or []), PLAIN_STOP]

    def stream(
        self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.0, stop: list[str] | None = None,
        top_p: float = 0.0, top_k: int = 0, avoid: list[str] | None = None,
    ) -> Iterator[str]:
        """… `avoid` (llama.cpp only): texts whose tokens the model may not write (logit_bias false)."""
        handler, body, stops = self.request(messages, stop)
        body.update(sampling(max_tokens, temperature, top_p, top_k))
        if avoid:
            body["logit_bias"] = [[text, False] for text in avoid]
        with self._lock:
            try:
                yield from self._filtered(handler, body, stops)
            except _Rejected:  # the template refused these messages (e.g. a system role): the plain prompt
                body["prompt"] = plain_prompt(body.pop("messages"))
                yield from self._filtered("handle_completions", body, [*stops, PLAIN_STOP])

    def _filtered(self, handler: str, body: dict, stops: list[str]) -> Iterator[str]:
        """Pieces cut at the stop strings. llama.cpp is given them too, so it ends the request itself (and sends
        its timings) rather than being cancelled; the filter stays as the contract's guard."""
        f, got = StopFilter(stops), False
        chunks = self.chunks(handler, {**body, "stop": stops[:4]} if stops else body)
        try:
            for piece in chunks:
                got = True
                out = f.feed(piece)
                if out:
                    yield out
                if f.stopped:
                    break
        except ModelError as exc:
            if got or handler != "handle_chat_completions":
                raise
            raise _Rejected(str(exc)) from exc
        finally:
            chunks.close()
        tail = f.flush()
        if tail:
            yield tail
        if f.stopped:
            self.last_stats["finish_reason"] = "stop"

    def chunks(self, handler: str, body: dict) -> Iterator[str]:
        """Text pieces from one streamed llama.cpp request, generated on a worker thread (llama.cpp releases the
        GIL while it computes). Closing this generator stops generation at the next token; `last_stats` is set
        from llama.cpp's own timings when it finishes."""
        pieces: queue.Queue = queue.Queue()
        cancel = threading.Event()

        def on_chunk(chunk) -> bool:
            pieces.put(chunk)
            return cancel.is_set()

        def work() -> None:
            try:
                pieces.put(("done", getattr(server, handler)({**body, "stream": True}, on_chunk)))
            except BaseException as exc:  # handed to the reader, which raises it
                pieces.put(("done", {"error": {"message": str(exc)}}))

        threads, server = self._server_now()
        worker = threading.Thread(target=work, name="llamacpp-generate", daemon=True)
        t0, first, n = time.perf_counter(), None, 0
        self.last_stats = {}
        worker.start()
        try:
            while True:
                item = pieces.get()
                if isinstance(item, tuple):
                    _raise_error(item[1])
                    return
                _raise_error(item)
                text, finish = _chunk_text(item)
                if item.get("timings"):
                    self.last_stats = _stats(item["timings"], finish)
                if text:
                    first = first or time.perf_counter() - t0
                    n += 1
                    yield text
        finally:
            cancel.set()
            worker.join()
            if not self.last_stats and n:  # stopped early: llama.cpp sent no timings; our own count
                self.last_stats = {"generation_tokens": n, "ttft_s": first, "finish_reason": "cancelled"}
            self.last_stats["threads"] = threads

    def generate_avoiding(self, messages: list[dict], avoid: list[str], **kw) -> str:
        """generate() without the tokens of the `avoid` texts (e.g. a refusal's first word)."""
        return "".join(self.stream(messages, avoid=avoid, **kw))

    def first_token_probs(self, messages: list[dict], n: int = 10) -> dict[str, float]:
        """The `n` likeliest first tokens of the reply to `messages`, with their probabilities (one token
        computed; llama.cpp reuses the prompt's cache for the generation that follows)."""
        import math

        handler, body, _ = self.request(messages, None)
        body.update(sampling(1, 0.0, 0.0, 0), logprobs=True, top_logprobs=n, n_probs=n, stream=False)
        with self._lock:
            result = getattr(self._server_now()[1], handler)(body)
        _raise_error(result)
        choice = (result.get("choices") or [{}])[0]
        content = (choice.get("logprobs") or {}).get("content") or []
        first = content[0] if content else (result.get("completion_probabilities") or [{}])[0]  # raw completion
        tops = first.get("top_logprobs") or first.get("probs") or []
        if not tops:
            raise ModelError("llama.cpp gave no token probabilities")
        return {t.get("token", t.get("tok_str", "")): math.exp(t["logprob"]) if "logprob" in t else t.get("prob", 0.0)
                for t in tops}

    def close(self) -> None:
        """Stop llama.cpp's server and remove its socket folder (also done when the object is collected)."""
        self.server = None
        self._servers.clear()
        self._finalizer()


class _Rejected(Exception):
    """The chat template failed before any text came: retried with the plain prompt."""


def sampling(max_tokens: int, temperature: float, top_p: float, top_k: int) -> dict:
    """The request's sampling fields, with mlx-lm's meaning: 0 turns top-p/top-k off, and no min-p (llama.cpp's
    default 0.05 would cut tokens mlx-lm keeps)."""
    return {"max_tokens": int(max_tokens), "temperature": float(temperature), "top_p": float(top_p) or 1.0,
            "top_k": int(top_k), "min_p": 0.0}


def _chunk_text(chunk: dict) -> tuple[str, str | None]:
    choice = (chunk.get("choices") or [{}])[0]
    delta = choice.get("delta")
    text = (delta.get("content") if isinstance(delta, dict) else None) or choice.get("text") or ""
    return text, choice.get("finish_reason")


def _remove_all(folders: list[str]) -> None:
    for folder in folders:
        shutil.rmtree(folder, True)


def _stats(t: dict, finish: str | None) -> dict:
    return {
        "prompt_tokens": (t.get("prompt_n") or 0) + (t.get("cache_n") or 0),  # all of them, as mlx-lm counts
        "prompt_tps": t.get("prompt_per_second"),
        "generation_tokens": t.get("predicted_n"),
        "generation_tps": t.get("predicted_per_second"),
        "cached_tokens": t.get("cache_n"),
        "finish_reason": finish or "stop",
    }


def _raise_error(result) -> None:
    if isinstance(result, dict) and result.get("error"):
        err = result["error"]
        msg = err.get("message", err) if isinstance(err, dict) else err
        raise ModelError(f"llama.cpp: {str(msg).splitlines()[0]}")


def load(spec: str, settings) -> LlamaCppLLM:
    """The `llamacpp` LLM backend's factory (rag.plugins): a pack name (its model.gguf), a .gguf file, or a
    folder with a model.gguf."""
    if not available():
        raise ModelError("llm backend 'llamacpp' needs xllamacpp (pip install xllamacpp; wheels for Linux x86_64)")
    from rag.models.resolve import resolve_model

    path = Path(spec).expanduser() if str(spec).endswith(".gguf") else resolve_model(spec, "llm", settings)
    gguf = pack_gguf(path)
    if gguf is None:
        raise ModelError(f"model '{spec}' has no GGUF for llama.cpp; a pack gets one with: audiorag models pull "
                         f"{spec} (or use llm.backend = \"mlx\")")
    return LlamaCppLLM(gguf, name=spec, chat_template=folder_has_chat_template(path))
