"""The pure parts of issue #21's scenarios: option detection, windows, ratios, latencies,
file counts, on values worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scenarios.backlog import workers_option
from scenarios.engines import spark_rate_target
from scenarios.files import files_per_partition, worst
from scenarios.freshness import minute_latencies
from scenarios.livebatch import alternate, ratio_of_medians, windows

from stockpipe.lake import manifest
from stockpipe.lake.local import LocalLake

PROCESS_HELP = """Usage: stockpipe process [OPTIONS]

Options:
  --follow             Keep consuming; otherwise exit once caught up
  --workers INTEGER    Processes, each owning a set of shards
  --help               Show this message and exit.
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PROCESS_HELP, True),
        (PROCESS_HELP.replace("--workers", "--no-workers"), False),
        (PROCESS_HELP.replace("--workers", "--workers-max"), False),
        ("Options:\n  --follow  Keep consuming\n", False),
    ],
    ids=["listed", "other-flag-ending-in-workers", "longer-flag", "absent"],
)
def test_workers_option_is_read_from_the_help(text: str, expected: bool) -> None:
    assert workers_option(text) is expected


def test_windows_are_the_first_minutes_after_warm_up_and_the_last_before_late() -> None:
    assert windows(300, 10) == (list(range(1, 11)), list(range(291, 301)))
    assert windows(12, 3) == ([1, 2, 3], [10, 11, 12])
    assert windows(10, 5) == ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    with pytest.raises(ValueError, match="window"):
        windows(9, 5)  # minute 5 would be in both windows
    with pytest.raises(ValueError, match="window"):
        windows(300, 0)


def test_alternate_swaps_which_side_goes_first_every_pair() -> None:
    assert alternate([1, 2, 3], [10, 11, 12]) == [
        ("early", 1),
        ("late", 10),
        ("late", 11),
        ("early", 2),
        ("early", 3),
        ("late", 12),
    ]


def test_ratio_of_medians() -> None:
    # late median 2.0; early median (0.8 + 1.0) / 2 = 0.9
    assert ratio_of_medians([3.0, 1.0, 2.0], [1.0, 0.5, 0.8, 2.0]) == pytest.approx(2.0 / 0.9)


def test_minute_latencies_count_each_bar_once_and_unseen_bars_as_infinite() -> None:
    produced = [(60, 100.0, 3), (120, 160.0, 2)]
    seen = {60: [(100.5, 2), (101.0, 1)], 120: [(160.25, 1)]}
    got = minute_latencies(produced, seen)
    assert got[60] == [0.5, 0.5, 1.0]
    assert got[120][0] == 0.25
    assert math.isinf(got[120][1]) and len(got[120]) == 2


def test_files_per_partition_reads_manifests_and_counts_legacy_folders(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    prefix = "processed-data/bars"
    # Legacy partition: no manifest, every Parquet file counts.
    for name in ("part-0.parquet", "part-1.parquet"):
        lake.write_bytes(f"{prefix}/dt=2026-01-05/{name}", b"x")
    # Manifested partition: three files stored, the manifest names two.
    files = [manifest.data_file(prefix, "2026-01-06", "w0", n) for n in (1, 2, 3)]
    for path in files:
        lake.write_bytes(path, b"x")
    manifest.publish(lake, prefix, "2026-01-06", "w0", files[1:])
    assert files_per_partition(lake, prefix) == {"2026-01-05": 2, "2026-01-06": 2}


def test_worst_partition() -> None:
    counts = {"bars": {"2026-01-05": 2, "2026-01-06": 5}, "daily": {"2026-01-05": 3}}
    assert worst(counts) == (5, "bars dt=2026-01-06")
    assert worst({}) == (0, "no partition")


def test_spark_rate_target_reports_local_over_spark() -> None:
    t = spark_rate_target({"bars": 780_000, "seconds": {"local": 26.0, "spark": 39.0}})
    assert (t["value"], t["limit"], t["unit"], t["met"]) == (20_000, 30_000, "bars/s", False)
    assert t["reason"] == (
        "Spark local reprocessed 780,000 bars in 39.0 s (local ÷ Spark: 1.50x in bars/s)"
    )
    met = spark_rate_target({"bars": 780_000, "seconds": {"spark": 13.0}})
    assert (met["value"], met["met"]) == (60_000, True)
    missing = spark_rate_target({"bars": 780_000, "seconds": {"local": 26.0}})
    assert missing["value"] is None and missing["met"] is False
    assert "not measured" in missing["reason"]
