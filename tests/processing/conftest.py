"""Fixtures: a fresh local lake and the factories of processing_factories.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from processing_factories import read_table, simulate, snapshot, to_records

from stockpipe.lake.local import LocalLake


@pytest.fixture
def lake(tmp_path: Path) -> LocalLake:
    return LocalLake(tmp_path / "lake")


@pytest.fixture
def sim_records():  # type: ignore[no-untyped-def]
    """simulate(symbols, sessions, seed=0, fault_rate=0.0) -> (simulator, records)."""
    return simulate


@pytest.fixture
def records_of():  # type: ignore[no-untyped-def]
    """to_records(payloads, shard=..., start=1) -> stream records in arrival order."""
    return to_records


@pytest.fixture
def table_of():  # type: ignore[no-untyped-def]
    """read_table(lake, prefix) -> every row of a lake table as one DataFrame."""
    return read_table


@pytest.fixture
def snapshot_of():  # type: ignore[no-untyped-def]
    """snapshot(lake) -> {path: bytes} of the whole lake except checkpoints."""
    return snapshot
