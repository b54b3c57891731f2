"""A batch that dies between its write phases, run again, gives the clean run's lake."""

from __future__ import annotations

import json

import pytest
from sparkhelp import TABLES, assert_same_rows, copy_raw, read_table, simulated

from stockpipe.sources.simulator import session_bars
from stockpipe.spark import tasks
from stockpipe.spark.batch import process_envelopes, reprocess_spark

pytestmark = [pytest.mark.spark, pytest.mark.integration]


class Crash(RuntimeError):
    pass


def test_rerun_after_a_crash_between_the_write_phases(
    spark, raw_zone, two_sessions, tmp_path, monkeypatch
) -> None:
    history = simulated(two_sessions, seed=17, fault_rate=0.05)
    # Batch 2 only corrects the last first-session bar: its session is the series'
    # earliest touched partition (written last); the second session is only recomputed
    # (its first SMA windows include the corrected close).
    sim = session_bars(17, "AAPL", two_sessions[0])
    doc = sim.bar(len(sim) - 1).to_dict()
    doc["close"] = doc["low"]
    source, waves = raw_zone(history, [("AAPL", json.dumps(doc).encode())])
    clean = copy_raw(source, tmp_path / "clean")
    reprocess_spark(spark, str(clean))

    crashed = tmp_path / "crashed"
    crashed.mkdir()
    batches = [
        spark.read.schema(tasks.ENVELOPE_DDL).json([str(source / rel) for rel in wave])
        for wave in waves
    ]
    process_envelopes(spark, batches[0], str(crashed))
    before = read_table(crashed, "bars")

    def killed(lake, table, dt, payloads):  # type: ignore[no-untyped-def]
        raise Crash(f"killed before writing {table} dt={dt}")

    monkeypatch.setattr(tasks, "merge_partition", killed)
    with pytest.raises(Crash, match=f"bars dt={two_sessions[0]}"):
        process_envelopes(spark, batches[1], str(crashed))
    monkeypatch.undo()
    # Phase 1 rewrote the later session's indicators; the corrected bar is not stored yet.
    half = read_table(crashed, "bars")
    assert half.column("close").to_pylist() == before.column("close").to_pylist()
    assert half.column("sma_50").to_pylist() != before.column("sma_50").to_pylist()

    process_envelopes(spark, batches[1], str(crashed))
    for name in TABLES:
        assert_same_rows(read_table(crashed, name), read_table(clean, name), name)
