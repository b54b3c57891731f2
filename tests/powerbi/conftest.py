"""Fixtures for the Power BI tests (helpers live in powerbi_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from powerbi_support import build_schema_registry, write_fixture_lake
from referencing import Registry


@pytest.fixture(scope="session")
def schema_registry() -> Registry:
    return build_schema_registry()


@pytest.fixture(scope="module")
def fixture_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture_lake(tmp_path_factory.mktemp("pbi") / "lake")
