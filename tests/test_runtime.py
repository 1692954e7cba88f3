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


def _spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(20000))


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_free_cores_counts_the_cores_other_processes_keep_busy():
    """With a busy process on every usable core, only one thread is offered (the floor), and `fitted_blas` runs
    OpenBLAS with that many; without the burners it is back to what it was before."""
    import multiprocessing as mp
    import time

    n = runtime.usable_cores()
    if n < 2:
        pytest.skip("one core: nothing to take away")
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    burners = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(n)]
    for p in burners:
        p.start()
    try:
        time.sleep(1.5)  # the burners are up and the sampler has seen them
        assert runtime.free_cores(0.3) == 1
        deadline = time.monotonic() + 5
        while runtime.free_cores_now() != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert runtime.free_cores_now() == 1
        before = runtime.blas_num_threads()
        with runtime.fitted_blas():
            if before is not None:
                assert runtime.blas_num_threads() == 1
        assert runtime.blas_num_threads() == before
    finally:
        stop.set()
        for p in burners:
            p.join(5)
