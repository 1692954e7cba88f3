"""mlx-audio-rag: the query side and the shared core (schema, settings, runtime, models, store).

Importing this package is cheap. It does one thing on purpose: on Linux it preloads an OpenBLAS with
RTLD_GLOBAL so that MLX, whenever it is imported later, gets a fast float32 matmul (see `rag.runtime`).
"""

from rag import runtime as _runtime

_runtime.preload_blas()

__version__ = "0.1.0"
