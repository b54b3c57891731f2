"""The Spark job reads the stored bars through the manifests, like every other reader."""

from __future__ import annotations

import pytest

from manifest_lake import ManifestWriter, bars
from stockpipe.lake import manifest
from stockpipe.lake.local import LocalLake
from stockpipe.spark.batch import stored_bars

pytestmark = [pytest.mark.spark, pytest.mark.integration]


def test_stored_bars_are_the_files_the_manifests_name(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lake = LocalLake(tmp_path / "lake")
    writer = ManifestWriter(lake)
    writer.append("2026-01-05", bars(0, 2))
    writer.append("2026-01-05", bars(2, 3))
    writer.compact("2026-01-05", delete=False)  # w0-3 replaces w0-1 and w0-2, still on disk
    lake.write_parquet(writer.next_file("2026-01-05"), bars(5, 1, "MSFT"))  # not published
    lake.write_parquet("processed-data/bars/dt=2026-01-02/part-0.parquet", bars(0, 4, "NVDA"))
    rows = stored_bars(spark, lake).select("dt", "name").collect()
    assert sorted((r["dt"], r["name"]) for r in rows) == [
        ("2026-01-02", "part-0.parquet"),
        ("2026-01-05", "w0-00000003.parquet"),
    ]


def test_a_partition_whose_manifest_names_nothing_is_empty(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lake = LocalLake(tmp_path / "lake")
    lake.write_parquet(manifest.data_file("processed-data/bars", "2026-01-05", "w0", 1), bars(0, 2))
    manifest.publish(lake, "processed-data/bars", "2026-01-05", "w0", [])
    assert stored_bars(spark, lake).count() == 0
