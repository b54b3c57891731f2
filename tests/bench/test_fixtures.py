"""The cached fixtures must be what the pipeline itself would have written."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import workloads

import fixtures
from stockpipe.lake.local import LocalLake
from stockpipe.lake.raw import iter_raw
from stockpipe.processing.base import bars_file_schema
from stockpipe.processing.engine import reprocess
from stockpipe.sources.simulator import MarketSimulator

START = date(2026, 1, 5)
SYNTHETIC = ["ingest_shard", "ingest_seq", "_created_shard", "_created_seq"]


def _table(root: Path, table: str) -> pd.DataFrame:
    frames = []
    for path in sorted((root / "processed-data" / table).glob("dt=*/*.parquet")):
        frame = pq.read_table(path).to_pandas()
        frame["dt"] = path.parent.name[3:]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_processed_fixture_equals_the_engine_output(tmp_path: Path) -> None:
    # Two sessions: the second resumes the kernel from the first one's state.
    fixtures.build_processed(tmp_path / "fixture", 2, 2, START)
    fixtures.build_raw(tmp_path / "engine", 2, 2, START)
    reprocess(LocalLake(tmp_path / "engine"))

    built = _table(tmp_path / "fixture", "bars")
    engine = _table(tmp_path / "engine", "bars")
    assert list(built.columns) == [*bars_file_schema().names, "dt"]
    assert len(built) == 2 * 2 * 390
    # The stream positions are synthetic in the fixture; every other column, indicators
    # and hidden state included, is the engine's bit for bit.
    exact = [c for c in built.columns if c not in SYNTHETIC]
    pd.testing.assert_frame_equal(built[exact], engine[exact], check_exact=True)
    pd.testing.assert_frame_equal(
        _table(tmp_path / "fixture", "daily"),
        _table(tmp_path / "engine", "daily"),
        check_exact=True,
    )
    files = sorted(
        p.relative_to(tmp_path / "fixture").as_posix()
        for p in (tmp_path / "fixture").rglob("*")
        if p.is_file()
    )
    engine_files = sorted(
        p.relative_to(tmp_path / "engine").as_posix()
        for p in (tmp_path / "engine").rglob("*")
        if p.is_file() and "raw-data" not in p.parts
    )
    assert files == engine_files


def test_raw_fixture_holds_the_simulator_payloads(tmp_path: Path) -> None:
    fixtures.build_raw(tmp_path, 3, 1, START)
    # Files are listed shard by shard; the stream order is the sequence number.
    records = sorted(iter_raw(LocalLake(tmp_path)), key=lambda r: int(r.sequence_number))
    expected = [
        p for batch in MarketSimulator(workloads.symbols(3), [START]).batches() for p in batch
    ]
    assert [(r.partition_key, r.data) for r in records] == expected
    seqs = [int(r.sequence_number) for r in records]
    assert seqs == list(range(1, len(expected) + 1))
