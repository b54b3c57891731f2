"""One local SparkSession for every Spark test, and raw zones built by the real pipeline."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import pytest
from sparkhelp import ingest

from stockpipe.calendar import sessions_from
from stockpipe.lake.local import LocalLake
from stockpipe.pipeline.stages import run_archive
from stockpipe.stream.local import LocalStream


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from stockpipe.spark.session import build_session

    session = build_session("local[2]", "stockpipe-tests")
    yield session
    session.stop()


@pytest.fixture
def raw_zone(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Archive payload waves into a fresh lake, one archive run per wave.

    Returns the lake folder and, per wave, the raw files that wave added.
    """

    def build(
        *waves: Sequence[tuple[str, bytes]], name: str = "source"
    ) -> tuple[Path, list[list[str]]]:
        root = tmp_path / name
        lake = LocalLake(root / "lake")
        stream = LocalStream(root / "stream.db", shard_count=2)
        added: list[list[str]] = []
        for wave in waves:
            before = set(lake.list("raw-data"))
            ingest(stream, wave)
            run_archive(stream, lake)
            added.append(sorted(set(lake.list("raw-data")) - before))
        return root / "lake", added

    return build


@pytest.fixture(scope="session")
def two_sessions() -> list[date]:
    return sessions_from(date(2026, 11, 23), 2)
