"""One base for every user-facing error, one way to show it (rag/errors.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rag.errors import AudioragError, display

ROOT = Path(__file__).resolve().parent.parent


def _error_classes():
    """Every class in our packages whose name ends in Error/Mismatch, with the module it is defined in."""
    import importlib

    for path in sorted(p for pkg in ("rag", "ingest", "ui") for p in (ROOT / pkg).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [n.name for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith(("Error", "Mismatch"))]
        if names:
            module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
            for name in names:
                yield f"{module.__name__}.{name}", getattr(module, name)


def test_every_user_facing_error_derives_from_one_base():
    found = dict(_error_classes())
    assert len(found) >= 10, sorted(found)
    strays = [name for name, cls in found.items() if not issubclass(cls, AudioragError)]
    assert not strays, f"user-facing errors outside rag.errors.AudioragError: {strays}"


def test_error_display_names_no_classes_as_strings():
    """The display code decides by isinstance: no error class name appears as a string literal there."""
    names = {name.rsplit(".", 1)[1] for name, _ in _error_classes()}
    for path in (ROOT / "rag" / "errors.py", ROOT / "ui" / "errors.py", ROOT / "rag" / "cli" / "__init__.py",
                 ROOT / "ingest" / "pipeline.py"):
        strings = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
                   and isinstance(n.value, str)}
        assert not (strings & names), (path.name, strings & names)


@pytest.mark.parametrize("exc, shown", [
    (AudioragError("choose an episode first"), "Choose an episode first"),
    (FileNotFoundError(2, "No such file or directory", "/x/a.wav"), "Can't use /x/a.wav: no such file or directory"),
    (PermissionError(13, "Permission denied", "/x/a.wav"), "Can't use /x/a.wav: permission denied"),
    (AudioragError("poison.json: segment 0 has no text"), "poison.json: segment 0 has no text"),
    (KeyError("boom"), "KeyError: 'boom'"),
    (RuntimeError("first\nsecond"), "RuntimeError: first"),
])
def test_display_is_one_line(exc, shown):
    assert display(exc) == shown


def test_cli_shows_a_user_error_as_one_line(settings, capsys):
    from rag.cli import main

    assert main(["models", "pull", "nosuchmodel"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
