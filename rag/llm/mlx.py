"""mlx-lm in process: load a model folder once, stream tokens with `stream_generate`.

Stops on every EOS id the folder declares (config / generation_config `eos_token_id`, e.g. Gemma's `<eos>` and
`<end_of_turn>`), and on caller stop strings. Generation is serialized per model: the model and its mlx-lm
generation stream are not meant to be driven by two threads at once (the web UI serves requests from a pool).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

from rag.llm.base import PLAIN_STOP, BaseLLM, StopFilter, plain_prompt


class MlxLLM(BaseLLM):
    backend = "mlx-lm"  # what the page names as the engine that answered (rag.llm.label)

    def __init__(self, path: Path | str, name: str | None = None, adapter: Path | None = None,
                 adapter_name: str | None = None):
        from rag.runtime import mx

        mx()  # BLAS preload before mlx_lm imports mlx.core
        from mlx_lm import load

        self.path = path
        self.name = name or str(path)
        self.adapter = adapter_name
        self._lock = threading.Lock()
        self.last_stats: dict = {}
        if adapter is None:
            self.model, self.tokenizer = load(str(path))
            return
        try:
            self.model, self.tokenizer = load(str(path), adapter_path=str(adapter))
        except (ValueError, KeyError, TypeError, OSError, RuntimeError) as exc:  # mlx-lm's, on a bad adapter
            from rag.adapters import load_error

            raise load_error(adapter_name or str(adapter), self.name, exc) from None
        # the adapter's arrays are loaded lazily on this thread's stream; generation may run on another (the answer
        # worker, the app's pool), where evaluating them fails ("no Stream(cpu, 0) in current thread")
        mx().eval(self.model.parameters())
        self.name = f"{self.name}+{adapter_name}"

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def prompt_tokens(self, messages: list[dict]) -> tuple[list[int], list[str]]:
        """Token ids for a chat, and the stop strings the prompt format implies.

        With a chat template: the template. Without one (base models), or when the template rejects the messages
        (some refuse a system role): a plain "User:/Assistant:" prompt that stops at the next "User:" turn.
        """
        if self.has_chat_template:
            try:
                ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
                if isinstance(ids, dict):  # transformers 5 may return a BatchEncoding
                    ids = ids["input_ids"]
                return list(ids), []
            except Exception:  # jinja TemplateError: e.g. "System role not supported"
                pass
        return list(self.tokenizer.encode(plain_prompt(messages))), [PLAIN_STOP]

    def stream(
        self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.0, stop: list[str] | None = None,
        top_p: float = 0.0, top_k: int = 0,
    ) -> Iterator[str]:
        from mlx_lm import stream_generate
        from mlx_lm.sample_utils import make_sampler

        ids, implied = self.prompt_tokens(messages)
        stops = StopFilter([*(stop or []), *implied])
        sampler = make_sampler(temp=float(temperature), top_p=float(top_p), top_k=int(top_k))
        from rag.runtime import fitted_blas

        with self._lock, fitted_blas():  # OpenBLAS on the cores other processes leave free now
            resp = None
            for resp in stream_generate(self.model, self.tokenizer, ids, max_tokens=max_tokens, sampler=sampler):
                out = stops.feed(resp.text)
                if out:
                    yield out
                if stops.stopped:
                    break
            tail = stops.flush()
            if tail:
                yield tail
            if resp is not None:
                self.last_stats = {
                    "prompt_tokens": resp.prompt_tokens,
                    "prompt_tps": resp.prompt_tps,
                    "generation_tokens": resp.generation_tokens,
                    "generation_tps": resp.generation_tps,
                    "peak_memory_gb": resp.peak_memory,
                    "finish_reason": "stop" if stops.stopped else resp.finish_reason,
                }


def load(spec: str, settings) -> MlxLLM:
    """The `mlx` LLM backend's factory (rag.plugins): a pack name, local MLX folder or hub id; with llm.adapter,
    that adapter applied (rag/adapters.py: checked first, so a corrupt one or one trained on another model is one
    line)."""
    from rag.models import PACKS, ModelError
    from rag.models.resolve import resolve_model

    if spec in PACKS and not PACKS[spec].mlx:
        raise ModelError(f"model pack '{spec}' is a GGUF for llama.cpp only: use llm.backend = \"llamacpp\" "
                         "(pip install xllamacpp), or an mlx-community hub id for the same model")
    adapter = getattr(settings.llm, "adapter", None)
    if not adapter:
        return MlxLLM(resolve_model(spec, "llm", settings), name=spec)
    from rag.adapters import check_base, checked_adapter

    folder, manifest = checked_adapter(adapter, settings.models_path)
    check_base(adapter, manifest, spec)
    return MlxLLM(resolve_model(spec, "llm", settings), name=spec, adapter=folder, adapter_name=adapter)
