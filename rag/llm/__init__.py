"""Language models behind one small interface: `get_llm()` → an object with `stream(messages)` / `generate(messages)`.

Backends: `llamacpp` (llama.cpp in process on the packs' GGUFs, via xllamacpp: what `auto` means on Linux x86_64,
where it measured faster, docs/benchmarks.md), `mlx` (mlx-lm, in process: `auto` on Apple silicon and wherever
llama.cpp is not available) and `openai` (any OpenAI-compatible server: mlx_lm.server, llama.cpp, vLLM, Ollama …). Loaded models are cached per process, because loading costs seconds and
the app asks many questions of the same model.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rag import plugins
from rag.llm.base import (  # noqa: F401  (re-exported: the LLM vocabulary in one import)
    LLM,
    PLAIN_STOP,
    BaseLLM,
    StopFilter,
    filter_stops,
    plain_prompt,
)
from rag.models import ModelError


# -- choosing and caching a backend ------------------------------------------------------------------------------
_CACHE: dict[tuple, LLM] = {}
_LOCK = threading.Lock()


from rag.settings import LlmSettings  # noqa: E402  (light: pydantic only)

DEFAULT_PACK = LlmSettings.model_fields["model"].default
# The local pack for each task while llm.model is the default, by measurement (docs/answers.md): Gemma 3 270M's
# two-shot answers cite the right moment and its titles, chapters and descriptions pass the checks more often
# (12/30 fields vs 7/30). Transcript cleanup ("enhance") and llasa-cli stay on llm.model, the instruct model.
TASK_PACKS = {"answer": "gemma-3-270m", "summary": "gemma-3-270m"}


LOCAL_BACKENDS = ("auto", "mlx", "llamacpp")


def is_local(settings) -> bool:
    """True when the LLM runs in this process (backend auto/mlx/llamacpp, or an adapter chosen), not on a server."""
    return bool(settings.llm.adapter) or (settings.llm.backend or "auto").lower() in LOCAL_BACKENDS


def auto_backend(spec: str, settings) -> str:
    """What `auto` means for local model `spec`: `llamacpp` on Linux x86_64 when xllamacpp imports and the model
    has a GGUF (a pack's model.gguf, or a .gguf file), else `mlx` (Apple silicon, other CPUs, MLX folders and hub
    ids). A GGUF-only pack (Pack.mlx False) is llamacpp wherever xllamacpp imports. Nothing is loaded or pulled to
    decide."""
    import platform
    import sys

    from rag.llm.llamacpp import available, pack_gguf
    from rag.models import PACKS, pack_dir

    if spec in PACKS and not PACKS[spec].mlx:  # a GGUF-only pack: llama.cpp is the one backend that runs it
        return "llamacpp" if available() else "mlx"  # (mlx says so in one line)
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return "mlx"
    if not available():
        return "mlx"
    if str(spec).endswith(".gguf"):
        return "llamacpp"
    path = pack_dir(spec, settings.models_path) if spec in PACKS else Path(spec).expanduser()
    return "llamacpp" if pack_gguf(path) is not None else "mlx"


def local_backend(settings, spec: str | None = None, backend: str | None = None) -> str:
    """The in-process backend that runs `spec` (default llm.model) with these settings: mlx or llamacpp."""
    if settings.llm.adapter:  # llama.cpp cannot apply an mlx-lm adapter
        return "mlx"
    backend = (backend or settings.llm.backend or "auto").lower()
    return auto_backend(spec or settings.llm.model, settings) if backend == "auto" else backend


def task_model(settings, task: str) -> str:
    """The model for `task` ("answer" or "summary"): llm.<task>_model if set; else, while llm.model is the
    default pack and runs locally, the pack measured best at the task; else llm.model (a model you chose does
    everything)."""
    return _local_task_model(settings, task) if is_local(settings) else settings.llm.model


def _local_task_model(settings, task: str) -> str:
    explicit = getattr(settings.llm, f"{task}_model", None)
    if explicit:
        return explicit
    if settings.llm.adapter and settings.llm.model == DEFAULT_PACK:  # the adapter's base does every task
        from rag.adapters import base_of

        return base_of(settings.llm.adapter, settings.models_path) or settings.llm.model
    if settings.llm.model == DEFAULT_PACK:
        return TASK_PACKS.get(task, settings.llm.model)
    return settings.llm.model


def label(llm) -> str:
    """Who wrote an answer, for the page and the stored turn: "gemma-3-270m on llama.cpp"; a server's local
    fallback says so ("gemma-3-270m on llama.cpp, instead of the unreachable server gpu-box:8000")."""
    fallback = getattr(llm, "fallback", None)
    if fallback is not None:
        from urllib.parse import urlsplit

        url = urlsplit(getattr(llm, "base_url", "") or "")
        host = f"{url.hostname}:{url.port}" if url.port else (url.hostname or "?")  # never its credentials
        return f"{label(fallback)}, instead of the unreachable server {host}"
    engine = getattr(llm, "backend", "")
    return f"{llm.name} on {engine}" if engine else llm.name


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
    `settings.llm.backend`: `mlx` → mlx-lm in process, `llamacpp` → llama.cpp in process, `auto` → whichever of
    the two `auto_backend` picks, `openai` → an OpenAI-compatible server.
    `local_model` (openai only) is loaded instead if the server is unreachable at first use (default: llm.model).
    """
    from rag.settings import get_settings

    settings = settings or get_settings()
    backend = "mlx" if settings.llm.adapter else (backend or settings.llm.backend or "auto").lower()
    if backend in LOCAL_BACKENDS:
        spec = model or settings.llm.model
        chosen = local_backend(settings, spec, backend)
        if backend != "auto" or chosen == "mlx":
            return load_local(spec, settings, chosen)
        try:
            return load_local(spec, settings, chosen)
        except ModelError as exc:  # auto chose llama.cpp and it failed to load: mlx-lm still runs the pack
            import logging

            logging.getLogger(__name__).warning("llama.cpp could not load %s (%s); using mlx-lm", spec, exc)
            return load_local(spec, settings, "mlx")
    if backend not in plugins.names("llm"):
        raise ModelError(f"unknown llm backend '{backend}'; use auto, {', '.join(plugins.names('llm'))}")
    spec = model or (settings.llm.remote_model if backend == "openai" else settings.llm.model)
    extra = {"local_model": local_model or settings.llm.model} if backend == "openai" else {}
    key = (backend, spec, settings.llm.model_dump_json(), tuple(extra.items()))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = plugins.factory("llm", backend)(spec, settings, **extra)
        return _CACHE[key]


def load_local(spec: str, settings=None, backend: str = "mlx") -> LLM:
    """The in-process model (`backend` mlx or llamacpp) for a pack name / folder / hub id, loaded once per
    process."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    adapter = settings.llm.adapter if backend == "mlx" else None
    key = (backend, spec, str(settings.models_path), adapter)  # looked up before resolving: no pack check on a hit
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = plugins.factory("llm", backend)(spec, settings)
        return _CACHE[key]


def load_mlx(spec: str, settings=None) -> LLM:
    """The mlx-lm model for a pack name / folder / hub id, loaded once per process."""
    return load_local(spec, settings, "mlx")


def is_loaded(settings, model: str) -> bool:
    """Whether this process holds `model` loaded already (for a server backend: whether its client exists)."""
    if is_local(settings):
        backend = local_backend(settings, model)
        key = (backend, model, str(settings.models_path), settings.llm.adapter if backend == "mlx" else None)
        with _LOCK:
            return key in _CACHE
    with _LOCK:
        backend, role = (settings.llm.backend or "").lower(), settings.llm.model_dump_json()
        return any(k[0] == backend and k[2] == role for k in _CACHE)


def clear_cache() -> None:
    """Forget loaded models (tests, or after changing settings in a long-lived process)."""
    with _LOCK:
        _CACHE.clear()
