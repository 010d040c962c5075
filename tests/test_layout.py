"""The package layout: imports run one way down the layers, and no two modules import each other.

Layers, top to bottom (docs/architecture.md, "Import direction"):

    workflow -> reporting -> evaluation -> models, prep, privacy -> data, metrics

A module may import its own package and any package of a lower layer, never a higher layer and
never a sibling package of its own layer (prep does not import privacy, data does not import
metrics). Every import counts, the ones inside functions too: an upward import deferred into a
function is still an upward dependency. :data:`ALLOWED_UPWARD` lists the exceptions with the reason
for each; it is empty.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recnb"

#: top-level package of recnb -> layer (higher imports lower)
LAYERS: dict[str, int] = {
    "data": 0,
    "metrics": 0,
    "models": 1,
    "prep": 1,
    "privacy": 1,
    "evaluation": 2,
    "fairness": 2,
    "backends": 2,
    "serving": 2,
    "experiments": 2,
    "context": 2,
    "monitoring": 2,
    "reporting": 3,
    "workflow": 4,
}

#: (importing module, imported package) -> why the upward or sideways import is needed; none so far
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}


def _module_name(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(name: str, root: Path = PACKAGE) -> bool:
    rel = Path(*name.split("."))
    return (root.parent / rel).with_suffix(".py").is_file() or (
        root.parent / rel / "__init__.py"
    ).is_file()


def _imports(path: Path, root: Path = PACKAGE) -> list[tuple[str, int, bool]]:
    """(imported recnb module, line, inside a function) for every import of a source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for a in child.names:  # `from recnb.models import catalog`: the submodule
                    sub = f"{child.module}.{a.name}"
                    target = sub if _is_module(sub, root) else child.module
                    out.append((target, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return [(m, line, lazy) for m, line, lazy in out if m == "recnb" or m.startswith("recnb.")]


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_layer():
    loose = [
        _module_name(p)
        for p in SOURCES
        if _package(_module_name(p)) is None and p.name not in ("__init__.py", "__main__.py")
    ]
    assert not loose, f"modules outside the layer packages {sorted(LAYERS)}: {loose}"


def _upward(path: Path, root: Path = PACKAGE) -> list[str]:
    """The imports of one module that go up or sideways (empty when there are none)."""
    me = _module_name(path, root)
    mine = _package(me)
    if mine is None:  # recnb/__init__.py, recnb/__main__.py: the top
        return []
    bad = []
    for target, line, lazy in _imports(path, root):
        theirs = _package(target)
        if theirs is None or theirs == mine:
            continue
        if LAYERS[theirs] < LAYERS[mine] or (me, theirs) in ALLOWED_UPWARD:
            continue
        where = "inside a function" if lazy else "at module level"
        bad.append(
            f"{me} ({mine}, layer {LAYERS[mine]}) line {line}: {target} ({theirs}, layer "
            f"{LAYERS[theirs]}) {where}"
        )
    return bad


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: _module_name(p))
def test_imports_run_down_the_layers(path):
    assert _upward(path) == []


def _graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        me = _module_name(path, root)
        graph[me] = {t for t, _, _ in _imports(path, root) if t != me}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                strong(w)
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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_two_modules_import_each_other():
    """Observed: models/base.py imported models/registry.py inside Recommender.load, and the
    registry imported base; the class table now lives in models/catalog.py, below both."""
    assert _cycles(_graph()) == []


def test_the_checks_see_an_upward_import_and_a_cycle(tmp_path):
    """The checks can fail: a planted upward import (inside a function) and a planted cycle."""
    pkg = tmp_path / "recnb"
    for sub in ("data", "workflow"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "a.py").write_text("def f():\n    from recnb.workflow import b\n")
    (pkg / "workflow" / "b.py").write_text("from recnb.data import a\n")
    assert _upward(pkg / "data" / "a.py", pkg) == [
        "recnb.data.a (data, layer 0) line 2: recnb.workflow.b (workflow, layer 4) inside a "
        "function"
    ]
    assert _upward(pkg / "workflow" / "b.py", pkg) == []
    assert _cycles(_graph(pkg)) == [["recnb.data.a", "recnb.workflow.b"]]
