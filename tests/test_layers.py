"""The package's layers import downward only, and neither its packages nor its modules form an import cycle.

Layer order (lowest first), also stated in ``phenocell/__init__.py``:

0. core: ``errors``, ``constants``, ``profiles``, ``schema``, ``records``, ``manifest``, ``paths``
1. ``readers``: one leaf module per input format (a reader imports no other reader)
2. blocks: ``panoptic``, ``splits``, ``storage``, ``loaders``
3. ``cards``: dataset card, QC page, publishing, verification
4. ``converters`` (one module per input format, the driver), ``synthetic``, ``benchmark``
5. CLI: ``cli``, ``cli_options``, ``cli_raw_options``, ``cli_errors``, ``cli_interop``, ``cli_cells``,
   ``benchmark.cli``, ``demo``
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "phenocell"

LAYERS: dict[str, int] = {
    "phenocell": 0,
    "phenocell.errors": 0,
    "phenocell.constants": 0,
    "phenocell.schema": 0,
    "phenocell.records": 0,
    "phenocell.manifest": 0,
    "phenocell.paths": 0,
    "phenocell.profiles": 0,
    "phenocell.readers": 1,
    "phenocell.panoptic": 2,
    "phenocell.loaders": 2,
    "phenocell.splits": 2,
    "phenocell.storage": 2,
    "phenocell.cards": 3,
    "phenocell.converters": 4,
    "phenocell.synthetic": 4,
    "phenocell.benchmark": 4,
    "phenocell.cli": 5,
    "phenocell.cli_options": 5,
    "phenocell.cli_raw_options": 5,
    "phenocell.cli_errors": 5,
    "phenocell.cli_interop": 5,
    "phenocell.cli_cells": 5,
    "phenocell.benchmark.cli": 5,
    "phenocell.demo": 5,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> tuple[str, int]:
    """The most specific entry of LAYERS that ``module`` falls under."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return key, LAYERS[key]
    raise KeyError(f"{module} has no layer: add it to LAYERS")


def imports_of(path: Path) -> set[str]:
    """Every phenocell module a file imports, at top level or inside functions."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("phenocell"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("phenocell"))
    return found


def real_modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """``from pkg import name`` names a module or an attribute; keep only real modules."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def edges() -> list[tuple[str, str]]:
    modules = real_modules()
    out = []
    for name, path in sorted(modules.items()):
        for target in sorted(imports_of(path)):
            resolved = resolve(target, modules)
            if resolved and resolved != name:
                out.append((name, resolved))
    return out


def test_every_module_has_a_layer() -> None:
    for name in real_modules():
        layer_of(name)


def test_imports_go_downward_only() -> None:
    upward = []
    for src, dst in edges():
        if dst == "phenocell":  # the package root only carries __version__
            continue
        src_layer, dst_layer = layer_of(src)[1], layer_of(dst)[1]
        if dst_layer > src_layer:
            upward.append(f"{src} (layer {src_layer}) imports {dst} (layer {dst_layer})")
    assert upward == []


def test_readers_are_leaf_modules() -> None:
    shared = [
        (s, d)
        for s, d in edges()
        if s.startswith("phenocell.readers.") and d.startswith("phenocell.readers.")
    ]
    assert shared == []


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_cycles_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    for src, dst in edges():
        a, b = package_of(src), package_of(dst)
        if a != b and not (src == "phenocell.benchmark.cli" or b == "phenocell"):
            graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*stack, node, nxt]))
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_checker_sees_real_edges() -> None:
    """The graph walker is not vacuous: it finds a known downward edge of the real package."""
    assert ("phenocell.converters.driver", "phenocell.storage.writer") in edges()
    with pytest.raises(KeyError):
        layer_of("elsewhere.module")


def module_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_cycles_between_modules() -> None:
    """No module imports one that imports it back, directly or through others (lazy imports count too)."""
    graph: dict[str, set[str]] = {}
    for src, dst in edges():
        if dst != "phenocell":  # the package root only carries __version__
            graph.setdefault(src, set()).add(dst)
    assert module_cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The module check is not vacuous: a two-module loop and a three-module loop are found."""
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert module_cycles(graph) == [["c", "d", "e"], ["a", "b"]]
