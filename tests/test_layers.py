"""The package graph: one-way layers, no import cycles, no Hydra below the apps.

Every `import` in `src/tradelab` is read with `ast`, function-level (lazy) imports included,
so a cycle hidden behind a lazy import fails here too. docs/architecture.md draws the graph.
"""

from __future__ import annotations

import pytest

from tests.import_graph import GRAPH, MODULES, imports_of, package_of

# Bottom to top: a package may import only from packages of lower layers (and itself).
LAYERS: list[set[str]] = [
    {"errors"},
    {"tradelab", "atomic", "settings", "progress", "faults", "processes"},
    {"kernels", "kalman"},
    {"data", "search", "tracking"},
    {"robustness"},
    {"wfo", "strategies", "forecast"},
    {"promotion"},
    {"reports"},
    {"jobs"},
    {"testing"},
    {"apps"},
]
LAYER_OF = {name: k for k, names in enumerate(LAYERS) for name in names}
HYDRA = ("hydra", "omegaconf")


def test_every_package_has_a_layer() -> None:
    assert {package_of(m) for m in MODULES} == set(LAYER_OF)


def test_imports_point_down_the_layers() -> None:
    wrong = [
        f"{importer} -> {imported}"
        for importer, targets in GRAPH.items()
        for imported in targets
        if package_of(imported) != package_of(importer)
        and LAYER_OF[package_of(imported)] >= LAYER_OF[package_of(importer)]
    ]
    assert wrong == []


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in GRAPH.get(node, []):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])
    assert cycles == []


@pytest.mark.parametrize("library", HYDRA)
def test_hydra_stays_in_the_apps(library: str) -> None:
    users = [
        name
        for name, path in MODULES.items()
        if package_of(name) != "apps"
        and any(m.split(".")[0] == library for m in imports_of(name, path))
    ]
    assert users == []
