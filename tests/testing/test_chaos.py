"""The crash harness, short version: at least 5 SIGKILLs, nothing lost or duplicated."""

from __future__ import annotations

import pytest

from manifest_lake import ManifestWriter, bars
from stockpipe.contract import BARS
from stockpipe.lake.local import LocalLake
from stockpipe.testing.chaos import _table, run_chaos


@pytest.mark.integration
def test_consumers_killed_five_times_give_the_clean_result(tmp_path) -> None:
    verdict = run_chaos(tmp_path, kills=5, seed=3, days=2, log=False)
    assert verdict.kills == 5
    assert verdict.lost == 0
    assert verdict.duplicated == 0
    assert verdict.records_out == verdict.records_in > 2 * 4 * 390
    assert verdict.tables_identical == {"bars": True, "daily": True, "quarantine": True}
    # Its process consumer compacted after every batch (kills landed inside compactions
    # too): each partition is read from one file at the end.
    assert verdict.files_per_partition == {"bars": 1, "daily": 1, "quarantine": 1}
    # The processing invariant holds after the crashes, counting every record once.
    acc = verdict.accounting
    assert acc["read"] == verdict.records_in
    assert acc["read"] == acc["kept"] + acc["duplicates"] + acc["quarantined"]
    assert verdict.ok and verdict.line().startswith("PASS: kills survived 5")


def test_the_verdict_reads_tables_through_the_manifests(tmp_path) -> None:
    """A superseded file still on disk, or one written before its manifest, is not part of
    the table the verdict compares; a partition without manifests is read whole."""
    lake = LocalLake(tmp_path)
    writer = ManifestWriter(lake)
    writer.append("2026-01-06", bars(0, 2))
    writer.append("2026-01-06", bars(2, 1))
    writer.compact("2026-01-06", delete=False)
    lake.write_parquet(writer.next_file("2026-01-06"), bars(3, 5))
    lake.write_parquet(f"{BARS.prefix}/dt=2026-01-05/part-0.parquet", bars(0, 2, "MSFT"))
    table = _table(tmp_path, BARS)
    assert table.column("dt").to_pylist() == ["2026-01-06"] * 3 + ["2026-01-05"] * 2
    assert table.column("volume").to_pylist() == [100, 101, 102, 100, 101]
