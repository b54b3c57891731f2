"""pyspark-jobs/process_bars.py, run as `__main__` the way `python`/spark-submit run it.

It runs in-process on the shared session (the job takes the active SparkSession when no
--master is given), so this costs no second JVM; a `python process_bars.py` subprocess
behaves the same, with its own local Spark.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
from sparkhelp import read_table, simulated

pytestmark = [pytest.mark.spark, pytest.mark.integration]

SCRIPT = Path(__file__).resolve().parents[2] / "pyspark-jobs" / "process_bars.py"


def test_script_batch_run_reads_raw_and_writes_out(
    spark, raw_zone, two_sessions, tmp_path, monkeypatch, capsys
) -> None:
    raw, _ = raw_zone(simulated(two_sessions[:1], seed=2, fault_rate=0.05))
    out = tmp_path / "out"
    argv = [str(SCRIPT), "--source", "raw", "--raw", str(raw), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert done.value.code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["mode"] == "batch"
    assert summary["read"] == summary["kept"] + summary["duplicates"] + summary["quarantined"]
    assert summary["quarantined"] > 0
    assert read_table(out, "bars").num_rows == 3 * 390
    assert not (out / "raw-data").exists()  # read from --raw, written to --out
