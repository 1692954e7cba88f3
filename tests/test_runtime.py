"""rag.runtime: the OpenBLAS preload never picks a build this CPU cannot run."""

import sys

import pytest

from rag import runtime


class FakeBlas:
    """Stands for a loaded libopenblas: only its core name is asked."""

    def __init__(self, core: bytes):
        def openblas_get_corename():  # a plain function: ctypes' restype can be set on it
            return core

        self.openblas_get_corename = openblas_get_corename


@pytest.mark.parametrize("core, flags, fits", [
    (b"SKYLAKEX", {"avx2", "fma"}, False),  # the SIGILL case: an AVX-512 build on an AVX2 CPU
    (b"SKYLAKEX", {"avx2", "avx512f"}, True),
    (b"ZEN", {"avx2"}, True),
    (b"Haswell", {"avx2"}, True),
    (b"SKYLAKEX", set(), True),  # flags unknown (no /proc/cpuinfo): trusted
])
def test_an_avx512_openblas_is_refused_on_a_cpu_without_it(monkeypatch, core, flags, fits):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: flags)
    why = runtime._unfit(FakeBlas(core))
    assert (why is None) == fits
    if not fits:
        assert "AVX-512" in why and core.decode().upper() in why


@pytest.mark.skipif(sys.platform != "linux", reason="the preload is Linux only")
def test_the_preloaded_blas_runs_a_matmul_here():
    import numpy as np

    import mlx.core as mx

    assert runtime.preload_blas(), runtime._BLAS_ERROR
    a = mx.array(np.arange(12, dtype=np.float32).reshape(3, 4))
    assert np.allclose(np.array(a @ a.T), np.arange(12).reshape(3, 4) @ np.arange(12).reshape(3, 4).T)
