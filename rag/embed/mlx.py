"""Sentence embeddings on MLX with mlx-embeddings (BERT-family models such as all-MiniLM-L6-v2).

The model's `text_embeds` are already mean-pooled over the attention mask and L2-normalised; we normalise again in
numpy (idempotent) so a model whose output is not normalised still gives unit rows. Sequences are truncated at the
model's sentence-transformers `max_seq_length` (256 for MiniLM): the tokenizer's own default (512) gives vectors
that differ from the ones sentence-transformers makes.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from rag.models import ModelError
from rag.models.resolve import resolve_model

DEFAULT_MAX_LENGTH = 256


def max_seq_length(folder: Path, tokenizer=None) -> int:
    """sentence-transformers' limit when the folder says it, else the tokenizer's (at most 512)."""
    try:
        return int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit <= 8192:
        return min(limit, 512)
    return DEFAULT_MAX_LENGTH


class MlxEmbedder:
    def __init__(self, spec: str, settings) -> None:
        self.name = spec
        location = resolve_model(spec, "embed", settings)
        from rag.runtime import mx

        self._mx = mx()  # BLAS preload before mlx_embeddings imports mlx
        try:
            from mlx_embeddings.utils import get_model_path, load  # slow (4-7 s): imports transformers, mlx_vlm
        except ImportError as exc:  # installed bare by scripts/setup.sh (pyproject.toml says why)
            raise ModelError(f"mlx-embeddings does not import ({exc}); install it as scripts/setup.sh does: "
                             "pip install --no-deps mlx-embeddings mlx-vlm") from exc

        folder = Path(get_model_path(str(location)))
        try:
            self.model, wrapper = load(str(folder))
        except Exception as exc:  # noqa: BLE001 — any load failure is one line for the user
            raise ModelError(f"embedding model '{spec}' could not be loaded from {folder}: {exc}") from exc
        self.tokenizer = getattr(wrapper, "_tokenizer", wrapper)  # the Hugging Face tokenizer itself
        self.max_length = max_seq_length(folder, self.tokenizer)
        self._lock = threading.Lock()  # one forward pass at a time (UI threads share the model)
        self.dim = int(self._forward(["dimension probe"]).shape[1])

    def _forward(self, texts: list[str]) -> np.ndarray:
        mx = self._mx
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np")
        kwargs = {"attention_mask": mx.array(enc["attention_mask"])}
        if "token_type_ids" in enc:
            kwargs["token_type_ids"] = mx.array(enc["token_type_ids"])
        out = self.model(mx.array(enc["input_ids"]), **kwargs)
        emb = getattr(out, "text_embeds", None)
        if emb is None:  # a model without pooling: mean over real tokens
            mask = kwargs["attention_mask"][..., None].astype(mx.float32)
            emb = (out.last_hidden_state * mask).sum(axis=1) / mx.maximum(mask.sum(axis=1), 1e-9)
        return np.array(emb.astype(mx.float32), dtype=np.float32)

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Rows in the order of `texts`. Batches hold texts of similar length, so little padding is computed."""
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: np.ndarray | None = None
        from rag.runtime import fitted_blas

        with self._lock:
            for start in range(0, len(order), max(1, batch_size)):
                idx = order[start : start + batch_size]
                with fitted_blas():  # per batch: the cores other processes leave free now
                    emb = self._forward([texts[i] for i in idx])
                if out is None:
                    out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
                out[idx] = emb
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


load = MlxEmbedder  # the `mlx` embedding backend's factory (rag.plugins): load(spec, settings)
