"""The import layering of src/stockpipe: no upward import, no cycle between packages.

The graph is read from the source with `ast` (nothing is imported), and it counts every
import: module level, lazy imports inside functions and `TYPE_CHECKING` blocks alike, since a
lazy import is still a dependency (issue 16 found a pipeline -> cli cycle hidden that way).
docs/architecture.md draws the same layers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stockpipe"

# Each top-level package or module of stockpipe and its layer: a unit may import only units of
# a lower layer (or itself). Two different units on the same layer may not import each other.
LAYERS: dict[str, int] = {
    # foundation: the data contract, errors and settings every layer reads
    "__init__": 0,
    "contract": 0,
    "errors": 0,
    "records": 1,
    "calendar": 1,
    "config": 1,
    # what STOCKPIPE_HOME says about a run (lock holder, state files), read by any layer
    "home": 2,
    # AWS session, retry and deploy helpers the backends are built on
    "aws": 2,
    "metrics": 3,
    # the stream contract sits below the lake: the lake stores checkpoints and the raw zone
    "stream": 4,
    "lake": 5,
    "processing": 6,
    "sql": 6,
    # sources validate bars with processing's cleaning rules; Spark runs processing's kernel
    "sources": 7,
    "spark": 7,
    "dashboard": 8,
    "powerbi": 8,
    "pipeline": 9,
    # test tools for users and the suite: a testing source, a list sink, the crash harness
    "testing": 10,
    "cli": 11,
    "__main__": 12,
}

# Upward imports that exist today, as (importing module, imported unit). Issue 16 (items 1
# and 5) removes them: this list may only shrink. A new upward import fails the test; an entry
# whose import is gone fails too, so that it is deleted here and cannot come back unnoticed.
ALLOWED_UPWARD: frozenset[tuple[str, str]] = frozenset({})


def _module_name(path: Path, src: Path = SRC) -> tuple[str, bool]:
    """src/stockpipe/lake/base.py -> ("stockpipe.lake.base", False); packages give True."""
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _unit(module: str) -> str:
    """The layer unit of a stockpipe module: its top-level package or module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every stockpipe module `source` imports, anywhere in the file, relative ones resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            if target == "stockpipe":  # `from stockpipe import config` imports stockpipe.config
                found.update(f"stockpipe.{alias.name}" for alias in node.names)
    return {m for m in found if m == "stockpipe" or m.startswith("stockpipe.")}


def import_edges(src: Path = SRC) -> set[tuple[str, str]]:
    """(importing module, imported unit) for every import that crosses a unit boundary."""
    edges: set[tuple[str, str]] = set()
    for path in sorted(src.rglob("*.py")):
        module, is_package = _module_name(path, src)
        for target in imported_modules(path.read_text(encoding="utf-8"), module, is_package):
            if target == "stockpipe":
                continue  # the top-level package itself imports nothing below it
            if _unit(target) != _unit(module):
                edges.add((module, _unit(target)))
    return edges


def upward(edges: Iterable[tuple[str, str]], layers: Mapping[str, int]) -> set[tuple[str, str]]:
    """The edges that do not go strictly down a layer."""
    return {(m, t) for m, t in edges if layers[t] >= layers[_unit(m)]}


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None; a depth-first search with colours."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def unit_graph(edges: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, target in edges:
        graph.setdefault(_unit(module), set()).add(target)
    return graph


@pytest.fixture(scope="module")
def edges() -> set[tuple[str, str]]:
    return import_edges()


# -- the checker itself, on hand-made input ---------------------------------------------------


def test_imports_are_found_at_any_depth_and_relative_ones_resolved() -> None:
    source = (
        "from __future__ import annotations\n"
        "import stockpipe.errors\n"
        "from stockpipe import config\n"
        "from ..stream.base import Stream\n"
        "from .local import LocalLake\n"
        "import json\n"
        "def later():\n"
        "    from stockpipe.cli.common import open_stream\n"
        "if TYPE_CHECKING:\n"
        "    from stockpipe.metrics.base import Metrics\n"
    )
    assert imported_modules(source, "stockpipe.lake.archive", is_package=False) == {
        "stockpipe.errors",
        "stockpipe",
        "stockpipe.config",
        "stockpipe.stream.base",
        "stockpipe.lake.local",
        "stockpipe.cli.common",
        "stockpipe.metrics.base",
    }
    # In a package's __init__, `.` is the package itself.
    assert imported_modules("from .base import Lake\n", "stockpipe.lake", is_package=True) == {
        "stockpipe.lake.base"
    }


def test_the_checker_sees_an_upward_import_and_a_cycle(tmp_path: Path) -> None:
    src = tmp_path / "stockpipe"
    for name, text in {
        "__init__.py": "",
        "errors.py": "",
        "lake/__init__.py": "from stockpipe.errors import StockpipeError\n",
        "lake/base.py": "def f():\n    from stockpipe.processing import engine\n",
        "processing/__init__.py": "",
        "processing/engine.py": "from stockpipe.lake.base import f\n",
    }.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    edges = import_edges(src)
    assert edges == {
        ("stockpipe.lake", "errors"),
        ("stockpipe.lake.base", "processing"),
        ("stockpipe.processing.engine", "lake"),
    }
    layers = {"__init__": 0, "errors": 0, "lake": 5, "processing": 6}
    assert upward(edges, layers) == {("stockpipe.lake.base", "processing")}
    assert find_cycle(unit_graph(edges)) == ["lake", "processing", "lake"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


# -- the real source tree ---------------------------------------------------------------------


def test_every_unit_of_the_package_has_a_layer(edges: set[tuple[str, str]]) -> None:
    units = {_unit(_module_name(p)[0]) for p in SRC.rglob("*.py")}
    assert units - LAYERS.keys() == set(), "give the new package a layer in LAYERS"
    assert {t for _, t in edges} <= LAYERS.keys()


def test_no_upward_import_beyond_the_shrinking_allow_list(edges: set[tuple[str, str]]) -> None:
    new = sorted(upward(edges, LAYERS) - ALLOWED_UPWARD)
    assert new == [], (
        "upward imports (module, unit it imports); import downwards only, see docs/architecture.md"
    )


def test_the_allow_list_holds_only_imports_that_still_exist(edges: set[tuple[str, str]]) -> None:
    gone = sorted(ALLOWED_UPWARD - upward(edges, LAYERS))
    assert gone == [], "these upward imports are fixed: delete them from ALLOWED_UPWARD"


def test_no_cycle_between_packages_outside_the_allow_list(edges: set[tuple[str, str]]) -> None:
    assert find_cycle(unit_graph(edges - ALLOWED_UPWARD)) is None


def test_pipeline_imports_nothing_from_cli(edges: set[tuple[str, str]]) -> None:
    # The acceptance in its own words (issue 16 item 1).
    from_pipeline = {m for m, t in edges if t == "cli" and _unit(m) == "pipeline"}
    assert from_pipeline == set()
