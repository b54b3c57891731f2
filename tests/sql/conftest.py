"""Fixtures of the SQL tests: the hand-made lake of `sql_fixture_lake`, fresh engines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sql_fixture_lake import write_fixture_lake

from stockpipe.config import load_settings
from stockpipe.lake.local import LocalLake
from stockpipe.sql import reset_engines


@pytest.fixture
def fixture_lake(tmp_path: Path) -> LocalLake:
    return write_fixture_lake(tmp_path / "lake")


@pytest.fixture
def lake_settings(fixture_lake: LocalLake):
    return load_settings({"lake": fixture_lake.root}).settings


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    reset_engines()
    yield
    reset_engines()
