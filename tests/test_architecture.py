"""The packages' shape, read from the source (parsed with ``ast``, never imported): no import circles, no import
against the layer rules of ``docs/architecture.md``, no private name imported from another package, no module over
900 lines, and grid search / cross-validation free of any one algorithm.

Every import counts, a late one inside a function too (it is a circle all the same); imports under
``if TYPE_CHECKING:`` do not run and are left out. ``from pkg import name`` is an import of ``pkg.name`` when that is
a module, else of ``pkg``.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("cluster", "frame", "algos", "scoring", "web", "tools")
MAX_LINES = 900


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (they never run)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def _imports(name: str) -> list[tuple[str, str, int]]:
    """(imported module, name taken from it or "", line) of every import of module ``name`` that is ours."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skip = _type_checking_nodes(tree)
    package = name if _is_package(name) else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] in PACKAGES]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] not in PACKAGES:
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((sub, "", node.lineno) if sub in MODULES else (target, a.name, node.lineno))
    return out


GRAPH = {name: sorted({m for m, _, _ in _imports(name) if m != name}) for name in MODULES}


def _circles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, []):
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
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _layer_rules() -> dict[str, set[str]]:
    """package -> the packages it may import, from the table under "Layer rules" in docs/architecture.md."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text[text.index("**Layer rules**"):]
    rules = {}
    for line in section.splitlines()[1:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells is None:
            if rules:
                break
            continue
        if len(cells) == 2 and cells[0].startswith("`"):
            rules[cells[0].strip("`/")] = set(re.findall(r"`(\w+)/?`", cells[1]))
    return rules


def test_the_layer_table_names_every_package():
    assert set(_layer_rules()) == set(PACKAGES)


def test_no_import_against_the_layers():
    rules = _layer_rules()
    bad = [f"{src} imports {dst} (line {line})" for src in MODULES for dst, _, line in _imports(src)
           if dst.split(".")[0] != src.split(".")[0] and dst.split(".")[0] not in rules[src.split(".")[0]]]
    assert bad == []


def test_no_import_circles_outside_cluster():
    circles = [c for c in _circles(GRAPH) if not all(m.startswith("cluster") for m in c)]
    assert circles == []


def test_no_import_circles_in_cluster():
    assert [c for c in _circles(GRAPH) if all(m.startswith("cluster") for m in c)] == []


def test_no_private_name_imported_from_another_package():
    bad = [f"{src}:{line} imports {dst}.{what}" for src in MODULES for dst, what, line in _imports(src)
           if what.startswith("_") and dst.split(".")[0] != src.split(".")[0]]
    assert bad == []


def test_grid_search_and_cross_validation_know_no_algorithm():
    generic = [m for m in MODULES if m.startswith("algos.") and not m.startswith("algos.deeplearning")
               and m != "algos.plugin"]
    bad = [f"{m} imports {d}" for m in generic for d in GRAPH[m] if d.startswith("algos.deeplearning")]
    assert bad == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_900_lines(name):
    assert len(MODULES[name].read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def test_every_package_is_in_pyproject():
    """setuptools installs the packages pyproject.toml lists: a subpackage left out would be missing from a wheel."""
    import tomllib
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    assert listed == {name for name in MODULES if _is_package(name)}


def test_the_walker_sees_a_circle_and_a_private_import():
    """The checks can fail: a circle of two modules and a private import across packages are found."""
    assert _circles({"a": ["b"], "b": ["c", "a"], "c": []}) == [["a", "b"]]
    fake = ast.parse("from frame.frame import _store\nfrom . import ops\n")
    names = [(n.module, [a.name for a in n.names]) for n in ast.walk(fake) if isinstance(n, ast.ImportFrom)]
    assert names == [("frame.frame", ["_store"]), (None, ["ops"])]
    assert "frame.ops" in GRAPH["frame.frame"] and "frame.frame" not in GRAPH["frame.ops"]
