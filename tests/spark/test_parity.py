"""`reprocess --engine spark` and `--engine local` build the same lake from one raw zone."""

from __future__ import annotations

import pytest
from sparkhelp import TABLES, assert_same_rows, copy_raw, read_table, simulated

from stockpipe.lake.local import LocalLake
from stockpipe.processing.engine import reprocess
from stockpipe.spark.batch import reprocess_spark

pytestmark = [pytest.mark.spark, pytest.mark.integration]


def test_spark_and_local_reprocess_give_identical_tables(
    spark, raw_zone, two_sessions, tmp_path
) -> None:
    source, _ = raw_zone(simulated(two_sessions, seed=7, fault_rate=0.05))
    local = copy_raw(source, tmp_path / "local")
    distributed = copy_raw(source, tmp_path / "spark")

    expected = reprocess(LocalLake(local))
    got = reprocess_spark(spark, str(distributed))

    assert got == expected
    assert expected.quarantined > 0 and expected.duplicates > 0
    for name in TABLES:
        assert_same_rows(read_table(distributed, name), read_table(local, name), name)
