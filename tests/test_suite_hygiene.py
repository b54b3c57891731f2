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
