"""Rules of the test suite itself (issue 16, item 9), checked on its source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_test_module_imports_another_test_module() -> None:
    # Shared helpers live in conftest.py fixtures or in plain helper modules (not test_*.py):
    # importing a test module runs its tests' module code twice and couples two test files.
    offenders = {
        str(path.relative_to(TESTS)): sorted(
            n for n in _top_level_imports(path) if n.startswith("test_")
        )
        for path in TESTS.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_root_conftest_starts_a_moto_server() -> None:
    starters = sorted(
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("*.py")
        if path != Path(__file__).resolve()
        and "ThreadedMotoServer" + "(" in path.read_text(encoding="utf-8")
    )
    assert starters == ["conftest.py"], "use the `moto_server` fixture of tests/conftest.py"


def _spawns(node: ast.AST) -> bool:
    """Whether the code calls subprocess.<anything> directly (run, Popen, check_output...)."""
    return any(
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "subprocess"
        for n in ast.walk(node)
    )


def _marks_integration(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "integration" for n in ast.walk(node))


def unmarked_spawning_tests(source: str) -> list[str]:
    """Test functions that start a subprocess themselves without the `integration` marker
    (on the function or as the module's `pytestmark`)."""
    tree = ast.parse(source)
    module_marked = any(
        isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
        and _marks_integration(n.value)
        for n in tree.body
    )
    if module_marked:
        return []
    return [
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef)
        and n.name.startswith("test_")
        and _spawns(n)
        and not any(_marks_integration(d) for d in n.decorator_list)
    ]


def test_the_spawn_check_itself() -> None:
    source = (
        "import subprocess, pytest\n"
        "def test_a():\n    subprocess.run(['ls'])\n"
        "@pytest.mark.integration\ndef test_b():\n    subprocess.Popen(['ls'])\n"
        "def test_c():\n    pass\n"
    )
    assert unmarked_spawning_tests(source) == ["test_a"]
    marked = "import pytest\npytestmark = [pytest.mark.integration]\n" + source
    assert unmarked_spawning_tests(marked) == []


def test_every_test_that_starts_a_subprocess_is_marked_integration() -> None:
    # `make unit` runs -m "not integration": a subprocess test without the marker slows it.
    found = {
        str(path.relative_to(TESTS)): unmarked_spawning_tests(path.read_text(encoding="utf-8"))
        for path in TESTS.rglob("test_*.py")
    }
    assert {k: v for k, v in found.items() if v} == {}
