"""Sentence embeddings behind one tiny protocol; the backend module is chosen by settings and imported lazily.

`Embedder.name` is the model spec as configured (pack name, folder or hub id): the store records it with the
vectors, so it can refuse a query embedded by another model without loading any model.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from rag import plugins
from rag.models import ModelError

if TYPE_CHECKING:
    import numpy as np

    from rag.settings import Settings

AUTO_BACKEND = "mlx"  # backends are found through rag.plugins (role "embed"); a factory is load(spec, settings)


@runtime_checkable
class Embedder(Protocol):
    name: str  # the model spec as configured
    dim: int

    def embed(self, texts: list[str], batch_size: int = 32) -> "np.ndarray":
        """float32 array (len(texts), dim) with L2-normalised rows, in the order of `texts`."""
        ...


_cache: dict[tuple, Embedder] = {}
_lock = threading.Lock()


def get_embedder(settings: "Settings | None" = None, model: str | None = None) -> Embedder:
    """The configured embedder, loaded once per process (per backend, model and model cache)."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    spec = model or settings.embed.model
    backend = settings.embed.backend or "auto"
    if backend == "auto":
        backend = AUTO_BACKEND
    if backend not in plugins.names("embed"):
        raise ModelError(f"embedding backend '{backend}' is not available; choose one of: auto, "
                         f"{', '.join(plugins.names('embed'))}")
    key = (backend, spec, str(settings.models_path), settings.allow_downloads)
    with _lock:
        if key not in _cache:
            _cache[key] = plugins.factory("embed", backend)(spec, settings)
        return _cache[key]


def clear_cache() -> None:
    """Forget loaded embedders (tests, or to free memory)."""
    with _lock:
        _cache.clear()
