"""`stockpipe status`, resume, the sessions record check and the dashboard's "any bars"
read the files the manifests name: never a file a compaction replaced, never one whose
manifest is not published yet; partitions without manifests read every file as before."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest

from manifest_lake import BASE, ManifestWriter, bars, one_row
from stockpipe.contract import BARS, DAILY, QUARANTINE
from stockpipe.errors import ConfigError
from stockpipe.lake import manifest
from stockpipe.lake.local import LocalLake
from stockpipe.pipeline.resume import lake_last_bars
from stockpipe.pipeline.status import lake_status
from stockpipe.processing.sessions import RECORD, settle_indicator_sessions

NEW, OLD = "2026-01-06", "2026-01-05"


@pytest.fixture
def lake(tmp_path) -> LocalLake:  # type: ignore[no-untyped-def]
    """bars: NEW compacted (AAPL minutes 10-14 in w0-3; w0-1 and w0-2 still on disk) plus
    an unpublished w0-4 (AAPL minute 50, MSFT minutes 50-51); OLD a legacy partition (two files).
    daily and quarantine: one published row each beside an unpublished file."""
    lake = LocalLake(tmp_path / "lake")
    writer = ManifestWriter(lake)
    writer.append(NEW, bars(10, 2))
    writer.append(NEW, bars(12, 3))
    writer.compact(NEW, delete=False)
    lake.write_parquet(writer.next_file(NEW), pa.concat_tables([bars(50, 1), bars(50, 2, "MSFT")]))
    lake.write_parquet(f"{BARS.prefix}/dt={OLD}/part-0.parquet", bars(0, 3, "MSFT"))
    lake.write_parquet(f"{BARS.prefix}/dt={OLD}/part-1.parquet", bars(3, 1, "IBM"))
    for table in (DAILY, QUARANTINE):
        other = ManifestWriter(lake, table)
        other.append(NEW, one_row(table))
        lake.write_parquet(other.next_file(NEW), one_row(table))
    return lake


def test_status_counts_the_rows_and_files_readers_read(lake) -> None:  # type: ignore[no-untyped-def]
    status = lake_status(lake)
    assert status.rows == {"bars": 5 + 4, "daily": 1, "quarantine": 1}
    assert {k: v for k, v in status.files.items() if k != "raw"} == {
        "bars": 3,
        "daily": 1,
        "quarantine": 1,
    }
    assert status.last_bar == BASE + timedelta(minutes=14)


def test_resume_starts_after_the_last_published_bar(lake) -> None:  # type: ignore[no-untyped-def]
    assert lake_last_bars(lake, ["AAPL", "MSFT", "IBM", "TSLA"]) == {
        "AAPL": BASE + timedelta(minutes=14),
        "MSFT": BASE + timedelta(minutes=2),  # the legacy partition; not the unpublished file
        "IBM": BASE + timedelta(minutes=3),
    }


def test_has_files_goes_through_the_manifests(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lake = LocalLake(tmp_path / "lake")
    assert manifest.has_files(lake, BARS.prefix) is False
    writer = ManifestWriter(lake)
    lake.write_parquet(writer.next_file(NEW), bars(0, 1))
    manifest.publish(lake, BARS.prefix, NEW, "w0", [])  # a file on disk, none counting
    assert manifest.has_files(lake, BARS.prefix) is False
    lake.write_parquet(f"{BARS.prefix}/dt={OLD}/part-0.parquet", bars(0, 1))
    assert manifest.has_files(lake, BARS.prefix) is True  # a legacy partition counts
    lake.delete(f"{BARS.prefix}/dt={OLD}/part-0.parquet")
    writer.append(NEW, bars(1, 1))
    assert manifest.has_files(lake, BARS.prefix) is True


def test_the_sessions_record_check_ignores_files_no_manifest_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lake = LocalLake(tmp_path / "lake")
    writer = ManifestWriter(lake)
    lake.write_parquet(writer.next_file(NEW), bars(0, 1))  # left by a crash, never published
    manifest.publish(lake, BARS.prefix, NEW, "w0", [])
    assert settle_indicator_sessions(lake, None) == ("pre", "regular", "post", "closed")
    lake.delete(RECORD)
    writer.append(NEW, bars(1, 1))
    with pytest.raises(ConfigError, match="without exchange sessions"):
        settle_indicator_sessions(lake, None)
