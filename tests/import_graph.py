"""The import graph of `src/tradelab`, read with `ast` (function-level imports included)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "tradelab"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def imports_of(name: str, path: Path) -> Iterator[str]:
    """Every module `name` imports (absolute names; `from pkg import mod` resolves to mod)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in MODULES else base


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tradelab"


GRAPH = {
    name: sorted({m for m in imports_of(name, path) if m.startswith("tradelab")} - {name})
    for name, path in MODULES.items()
}


def closure(module: str, extra: dict[str, list[str]] | None = None) -> set[str]:
    """Every tradelab module importing `module` may load: its imports, theirs, and the
    `__init__` of every package on the way (Python runs a package's `__init__` first).
    `extra` adds edges `ast` cannot see (plugins imported by name)."""
    edges = {k: list(v) for k, v in GRAPH.items()}
    for k, v in (extra or {}).items():
        edges[k] = edges.get(k, []) + list(v)
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name not in MODULES:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:k]) for k in range(1, len(parts))]
        todo += edges.get(name, [])
    return seen
