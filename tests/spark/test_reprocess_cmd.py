"""`stockpipe reprocess` arguments, and the local engine path (no Spark needed)."""

from __future__ import annotations

import pytest
from sparkhelp import read_table, simulated


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--engine", "flink"), "--engine 'flink' is unknown"),
        (("--from", "2026-13-01"), "--from '2026-13-01' is not a date"),
        (("--from", "2026-11-24", "--to", "2026-11-23"), "--from 2026-11-24 is after --to"),
        (("--master", "local[2]"), "--master only applies to --engine spark"),
        (("--engine", "spark", "--master", "local[2]; rm -rf /"), "is not a Spark master URL"),
    ],
    ids=["unknown-engine", "bad-date", "reversed-range", "master-without-spark", "bad-master"],
)
def test_bad_arguments_fail_with_one_line(cli, tmp_path, args, message) -> None:
    result = cli("reprocess", "--lake", str(tmp_path / "lake"), *args)
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_help_names_the_lake_env_var(cli) -> None:
    result = cli("reprocess", "--help")
    assert result.code == 0
    assert "STOCKPIPE_LAKE" in result.out and "--engine" in result.out


def test_local_engine_rebuilds_from_raw_zone(cli, raw_zone, two_sessions) -> None:
    lake, _ = raw_zone(simulated(two_sessions[:1], seed=5, fault_rate=0.05))
    result = cli("reprocess", "--engine", "local", "--lake", str(lake))
    assert result.code == 0, result.err
    assert "reprocessed with local" in result.out
    # 3 symbols x one 390-minute session, each bar kept once whatever the faults.
    assert read_table(lake, "bars").num_rows == 3 * 390
    assert read_table(lake, "daily").num_rows == 3
