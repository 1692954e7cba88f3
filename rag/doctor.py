"""What this machine has, measured (`audiorag doctor`, rag/cli/doctor.py): `collect()` returns the report, the
problems (one actionable line each) and the warnings."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGES = ["mlx", "mlx-lm", "xllamacpp", "mlx-whisper", "mlx-embeddings", "faster-whisper", "ctranslate2", "lancedb",
            "pyarrow", "gradio", "av", "transformers", "torch"]


def _gflops_without_blas() -> float | None:
    code = "from rag.runtime import measure_gflops; print(measure_gflops(repeats=2))"
    env = dict(os.environ, AUDIORAG_NO_BLAS="1")
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        return float(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


def _environment() -> str:
    """Where the packages live (sys.prefix) and the disk they take, counted as `du` does (the figure
    `scripts/setup.sh` ends with): allocated blocks, each file once (hard links), symlinks not followed."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(sys.prefix):
        for name in [*dirs, *files]:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return f"{sys.prefix} ({total / 2**30:.2f} GiB)"


def collect(quick: bool = False) -> tuple[dict, list[str], list[str]]:
    from rag import runtime
    from rag.models import ModelError
    from rag.models.resolve import resolve_model
    from rag.settings import config_path, get_settings

    s = get_settings()
    report: dict = {"platform": f"{platform.system()} {platform.machine()}", "python": platform.python_version(),
                    "environment": _environment()}
    problems: list[str] = []
    warnings: list[str] = []

    report["versions"] = {}
    for name in PACKAGES:
        try:
            report["versions"][name] = md.version(name)
        except md.PackageNotFoundError:
            report["versions"][name] = None

    try:
        mx = runtime.mx()
        report["mlx_device"] = str(mx.default_device())
    except Exception as exc:  # noqa: BLE001
        problems.append(f"MLX does not import ({exc}); reinstall: pip install 'mlx[cpu]' (Linux) or mlx (macOS)")
        mx = None

    blas_path, blas_error = runtime.blas_status()
    report["blas"] = blas_path or ("Accelerate (macOS)" if sys.platform == "darwin" else "reference BLAS (slow)")
    if sys.platform == "linux" and not blas_path:
        problems.append(f"no OpenBLAS preloaded ({blas_error}); pip install cmeel-openblas and apt-get install libgfortran5")
    report["dtype"] = runtime.default_dtype_name()
    if mx is not None:
        report["matmul_gflops"] = round(runtime.measure_gflops(), 1)
        if sys.platform == "linux" and not quick:
            without = _gflops_without_blas()
            report["matmul_gflops_without_openblas"] = round(without, 2) if without else None
            if without:
                report["openblas_speedup"] = round(report["matmul_gflops"] / without, 1)

    ffmpeg = shutil.which("ffmpeg")
    report["ffmpeg"] = ffmpeg
    if not ffmpeg:
        warnings.append("ffmpeg binary not found (decoding uses PyAV; install ffmpeg for the widest format support)")

    report["config_file"] = str(config_path()) if config_path().exists() else None
    report["data_dir"] = s.data_dir
    if not s.is_remote_store:
        d = Path(s.data_dir)
        try:
            d.mkdir(parents=True, exist_ok=True)
            probe = d / ".doctor-probe"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            problems.append(f"data dir {d} is not writable ({exc}); set AUDIORAG_DATA_DIR to a writable folder")
    report["models_dir"] = str(s.models_path)

    report["models"] = {}
    for role in ("asr", "llm", "embed"):
        rs = getattr(s, role)
        entry = {"model": rs.model, "backend": rs.backend}
        if role == "llm" and rs.backend != "openai":
            from rag.llm import local_backend

            entry["runs_on"] = local_backend(s)  # what `auto` picks: llamacpp (Linux x86_64, a GGUF) or mlx
        if rs.backend == "openai":
            entry["base_url"] = rs.base_url
        else:
            try:
                entry["path"] = str(resolve_model(rs.model, role, s, auto_pull=False))
                entry["ready"] = True
            except ModelError as exc:
                entry["ready"] = False
                problems.append(str(exc))
        report["models"][role] = entry
    report["packs"] = _packs(s.models_path, problems)
    _privacy(s, report, problems, warnings)
    return report, problems, warnings


def _privacy(s, report: dict, problems: list[str], warnings: list[str]) -> None:
    """Where each role's data goes (rag.privacy), and every configured server checked (rag.remote_check)."""
    from rag.audit import audit_path
    from rag.privacy import remotes, statement
    from rag.remote_check import check

    report["privacy"] = {r.role: r.where for r in statement(s)}
    report["audit_log"] = str(audit_path(s))
    report["servers"] = []
    for remote in remotes(s):
        entry, problem, warning = check(remote, s)
        report["servers"].append(entry)
        problems += [problem] if problem else []
        warnings += [warning] if warning else []


def _packs(models_path: Path, problems: list[str]) -> dict[str, str]:
    """Each pack: ready, not pulled or corrupted (a corrupted one is a problem)."""
    from rag.models import PACKS, ModelError
    from rag.models.pull import read_manifest, verify

    packs = {}
    for name in PACKS:
        if read_manifest(name, models_path) is None:
            packs[name] = "not pulled"
            continue
        try:
            verify(name, models_path, quick=True)
            packs[name] = "ready"
        except ModelError as exc:
            packs[name] = "corrupted"
            problems.append(str(exc))
    return packs
