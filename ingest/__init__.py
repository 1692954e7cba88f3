"""The write side: recordings and transcript files → episodes, segments and chunks in the store."""

import rag  # noqa: F401  (BLAS preload before anything imports MLX)
