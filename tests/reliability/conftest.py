"""Fixtures of the reliability tests (helpers live in reliability_support.py)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_support import scratch_dir


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[Path]:
    """A private temporary folder on tmpfs when there is one (fsync-heavy tests)."""
    with tempfile.TemporaryDirectory(dir=scratch_dir(tmp_path), prefix="stockpipe-") as tmp:
        yield Path(tmp)
