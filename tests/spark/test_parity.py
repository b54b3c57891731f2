"""`reprocess --engine spark` and `--engine local` build the same lake from one raw zone."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sparkhelp import TABLES, assert_same_rows, copy_raw, read_table, simulated

from stockpipe.processing.latest import LATEST_FILE

pytestmark = [pytest.mark.spark, pytest.mark.integration]

_COUNTS = re.compile(r"read (\d+), kept (\d+), duplicates (\d+), quarantined (\d+)")


def test_spark_and_local_reprocess_give_identical_tables(
    spark, cli, raw_zone, two_sessions, tmp_path
) -> None:
    # A faulty simulator run: duplicates, out-of-order (late) bars and malformed records.
    source, _ = raw_zone(simulated(two_sessions, seed=7, fault_rate=0.05))
    local = copy_raw(source, tmp_path / "local")
    distributed = copy_raw(source, tmp_path / "spark")

    by_local = cli("reprocess", "--engine", "local", "--lake", str(local))
    by_spark = cli("reprocess", "--engine", "spark", "--lake", str(distributed))

    assert by_local.code == 0, by_local.err
    assert by_spark.code == 0, by_spark.err
    counts = _COUNTS.search(by_local.out)
    assert counts is not None and counts.groups() == _COUNTS.search(by_spark.out).groups()
    read, kept, duplicates, quarantined = map(int, counts.groups())
    assert read == kept + duplicates + quarantined
    assert duplicates > 0 and quarantined > 0
    for name in TABLES:
        assert_same_rows(read_table(distributed, name), read_table(local, name), name)
    assert_same_rows(_latest(distributed), _latest(local), "latest")


def _latest(lake: Path) -> pa.Table:
    """The latest table (one file, dt a column), kept by each engine's own writer."""
    table = pq.read_table(lake / LATEST_FILE)
    assert table.num_rows > 0
    return table.sort_by([(k, "ascending") for k in ("symbol", "interval", "dt")])


def test_spark_reprocess_twice_rewrites_the_same_bytes(spark, raw_zone, two_sessions) -> None:
    """Idempotent: a second full rebuild writes byte-identical partition files."""
    from stockpipe.spark.batch import reprocess_spark

    source, _ = raw_zone(simulated(two_sessions[:1], seed=11, fault_rate=0.05))
    reprocess_spark(spark, str(source))
    first = {p: p.read_bytes() for p in sorted(source.glob("processed-data/**/*.parquet"))}
    reprocess_spark(spark, str(source))
    second = {p: p.read_bytes() for p in sorted(source.glob("processed-data/**/*.parquet"))}
    assert first and first == second


def test_date_range_replay_onto_a_local_lake_matches_the_local_engine(
    spark, cli, raw_zone, two_sessions, tmp_path
) -> None:
    """--from/--to merges raw days into existing tables: both engines count and write alike."""
    source, _ = raw_zone(simulated(two_sessions[:1], seed=13, fault_rate=0.05))
    local = copy_raw(source, tmp_path / "local")
    distributed = copy_raw(source, tmp_path / "spark")
    for lake in (local, distributed):
        assert cli("reprocess", "--engine", "local", "--lake", str(lake)).code == 0
    day = sorted(p.name for p in (source / "raw-data").iterdir())[0].removeprefix("dt=")
    window = ("--from", day, "--to", day)

    by_local = cli("reprocess", "--engine", "local", "--lake", str(local), *window)
    by_spark = cli("reprocess", "--engine", "spark", "--lake", str(distributed), *window)

    assert by_local.code == 0 and by_spark.code == 0, by_spark.err
    assert _COUNTS.search(by_local.out).groups() == _COUNTS.search(by_spark.out).groups()
    for name in TABLES:
        assert_same_rows(read_table(distributed, name), read_table(local, name), name)


@pytest.mark.parametrize("sessions", [None, ("regular",)], ids=["every-bar", "regular"])
def test_extended_hours_and_a_choice_of_indicator_bars_give_identical_tables(
    spark, raw_zone, extended_hours, sessions, tmp_path
) -> None:
    """Pre/post-market, a holiday, an early close and a Saturday: both engines agree on
    the session column, the regular-session values, daily and the chosen indicators."""
    import json

    from stockpipe.lake.local import LocalLake
    from stockpipe.processing.engine import reprocess
    from stockpipe.spark.batch import reprocess_spark

    bars = extended_hours("XT", seed=3) + extended_hours("YT", seed=4)
    source, _ = raw_zone([(b.symbol, b.to_json()) for b in bars])
    local = copy_raw(source, tmp_path / "local")
    distributed = copy_raw(source, tmp_path / "spark")

    by_local = reprocess(LocalLake(local), indicator_sessions=sessions)
    by_spark = reprocess_spark(spark, str(distributed), indicator_sessions=sessions)

    assert by_local == by_spark
    assert (by_local.read, by_local.kept, by_local.quarantined) == (640, 640, 0)
    for name in ("bars", "daily"):
        assert_same_rows(read_table(distributed, name), read_table(local, name), name)
    bars_table = read_table(distributed, "bars")
    assert set(bars_table.column("session").to_pylist()) == {"pre", "regular", "post", "closed"}
    assert sorted(set(read_table(distributed, "daily").column("dt").to_pylist())) == [
        "2026-11-24",
        "2026-11-25",
        "2026-11-27",
    ]
    record = "_state/processing/contract.json"
    for lake in (local, distributed):
        doc = json.loads((lake / record).read_text())
        assert doc == {"indicator_sessions": "regular" if sessions else "all"}
