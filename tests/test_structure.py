"""The shape of the code: no import cycles between our modules, and the read side never imports the pipeline at
module level (issue: one home for everything)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rag", "ingest", "ui")


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


def _imports(path: Path, mods: dict[str, Path], top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in (tree.body if top_level_only else ast.walk(tree)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in mods else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in mods}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    """Also imports inside functions: a lazy import is still a dependency."""
    mods = _modules()
    graph = {m: _imports(p, mods) - {m} for m, p in mods.items()}
    assert _cycles(graph) == []


def test_read_side_does_not_import_the_pipeline_at_module_level():
    mods = _modules()
    offenders = {m: sorted(d for d in _imports(p, mods, top_level_only=True) if d.split(".")[0] == "ingest")
                 for m, p in mods.items() if m.split(".")[0] == "rag"}
    assert {m: d for m, d in offenders.items() if d} == {}


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_every_function_is_under_80_lines():
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert long == []


def _outside_cli(mods: dict[str, Path]) -> dict[str, Path]:
    return {m: p for m, p in mods.items() if m != "rag.cli" and not m.startswith("rag.cli.")}


def _calls_add_argument(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "add_argument"
               for n in ast.walk(tree))


def test_only_the_cli_package_parses_arguments():
    """Command-line code lives in rag/cli/ (a module per verb); `audiorag serve`'s launcher keeps its own flags."""
    mods = _outside_cli(_modules())
    assert sorted(m for m, p in mods.items() if m != "ui.serve" and _calls_add_argument(p)) == []


def test_nothing_outside_the_cli_package_imports_it():
    """Logic modules return data; printing and parsing are the CLI's, so nothing below it reaches up to it."""
    mods = _modules()
    offenders = {m: sorted(d for d in _imports(p, mods) if d == "rag.cli" or d.startswith("rag.cli."))
                 for m, p in _outside_cli(mods).items()}
    assert {m: d for m, d in offenders.items() if d} == {}


def test_the_cli_checks_see_what_they_look_for(tmp_path):
    parser = tmp_path / "parser.py"
    parser.write_text("def add(p):\n    g = p.add_argument_group('x')\n    g.add_argument('--flag')\n")
    assert _calls_add_argument(parser)
    plain = tmp_path / "plain.py"
    plain.write_text("def add(p):\n    return p.add_argument_group('x')\n")
    assert not _calls_add_argument(plain)
    mods = {"rag.cli": plain, "rag.cli.options": plain, "rag.thing": plain}
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from rag.cli import print_json\n    from rag.cli.options import x\n")
    assert _imports(lazy, mods) == {"rag.cli", "rag.cli.options"}
    assert sorted(_outside_cli(mods)) == ["rag.thing"]


def test_every_file_is_under_400_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}
