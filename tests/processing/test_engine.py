"""The embedded engine: accounting, daily, late data, idempotency, crash safety."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from stockpipe.lake import manifest
from stockpipe.lake.local import LocalLake
from stockpipe.lake.raw import RawArchiver
from stockpipe.processing.base import BatchStats
from stockpipe.processing.engine import Processor, reprocess
from stockpipe.records import Bar
from stockpipe.stream.base import StreamRecord


def test_fault_counts_match_the_simulator(lake, sim_records) -> None:
    sim, records = sim_records(["AAPL", "MSFT", "TSLA"], 2, seed=5, fault_rate=0.05)
    stats = Processor(lake).process(records)
    assert sim.faults.malformed > 0 and sim.faults.duplicates > 0
    assert stats.read == len(records)
    assert stats.quarantined == sim.faults.malformed
    assert stats.duplicates == sim.faults.duplicates
    assert stats.kept == sim.stats.bars
    assert stats.read == stats.kept + stats.duplicates + stats.quarantined
    assert sum(stats.reasons.values()) == stats.quarantined


def test_accounting_holds_per_batch_and_sums_to_one_shot(lake, tmp_path, sim_records) -> None:
    _, records = sim_records(["AAPL", "JPM"], 2, seed=2, fault_rate=0.1)
    one = Processor(LocalLake(tmp_path / "one")).process(records)
    totals = BatchStats()
    proc = Processor(lake)
    for i in range(0, len(records), 400):
        stats = proc.process(records[i : i + 400])
        assert stats.balanced
        totals = totals + stats
    assert totals == one
    assert BatchStats.from_state(json.loads(json.dumps(totals.to_state()))) == totals


def test_daily_agrees_with_pandas(lake, sim_records, table_of) -> None:
    sim, records = sim_records(["AAPL", "NVDA"], 3, seed=8)
    Processor(lake).process(records)
    daily = table_of(lake, "processed-data/daily").sort_values(["symbol", "dt"])
    # Independent: rebuild each bar from the simulator's payloads, aggregate with pandas.
    bars = pd.DataFrame([json.loads(r.data) for r in records])
    bars["ts"] = pd.to_datetime(bars["ts"], utc=True)
    bars["dt"] = bars["ts"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
    bars = bars.sort_values(["symbol", "ts"])
    bars["pv"] = (bars["high"] + bars["low"] + bars["close"]) / 3 * bars["volume"]
    g = bars.groupby(["symbol", "dt"])
    exp = g.agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"),
        close=("close", "last"), volume=("volume", "sum"), pv=("pv", "sum"),
        bar_count=("close", "size"),
    ).reset_index()  # fmt: skip
    exp["vwap"] = exp["pv"] / exp["volume"]
    exp["change"] = exp.groupby("symbol")["close"].diff()
    exp["change_pct"] = 100 * exp["change"] / exp.groupby("symbol")["close"].shift()
    assert len(daily) == len(exp) == 6
    assert list(daily["symbol"]) == list(exp["symbol"])
    assert list(daily["dt"]) == list(exp["dt"])
    for col in ("open", "high", "low", "close", "vwap", "change", "change_pct"):
        np.testing.assert_allclose(daily[col], exp[col], rtol=1e-9, err_msg=col)
    assert list(daily["volume"]) == list(exp["volume"])
    assert list(daily["bar_count"]) == list(exp["bar_count"])


def test_processing_the_same_records_twice_changes_nothing(lake, sim_records, snapshot_of) -> None:
    _, records = sim_records(["AAPL"], 2, seed=3, fault_rate=0.05)
    first = Processor(lake).process(records)
    before = snapshot_of(lake)
    again = Processor(lake).process(records)
    assert snapshot_of(lake) == before
    # A replay is counted the way it was counted the first time.
    assert again == first


def test_same_input_gives_byte_identical_files(tmp_path, sim_records, snapshot_of) -> None:
    _, records = sim_records(["AAPL", "MSFT"], 1, seed=4, fault_rate=0.05)
    a, b = LocalLake(tmp_path / "a"), LocalLake(tmp_path / "b")
    Processor(a).process(records)
    Processor(b).process(records)
    assert snapshot_of(a) == snapshot_of(b)


class Crash(Exception):
    pass


class CrashingLake(LocalLake):
    """Dies after `allowed` successful writes, like a process killed mid-batch."""

    def __init__(self, root, allowed: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(root)
        self.allowed = allowed

    def write_bytes(self, relpath: str, data: bytes) -> None:
        if self.allowed <= 0:
            raise Crash(relpath)
        self.allowed -= 1
        super().write_bytes(relpath, data)


# The second batch makes 14 writes: quarantine (data file, manifest), the series index,
# daily 03-03 (data, manifest), daily 03-04 (empty manifest, data, manifest), bars 03-04
# (empty manifest, data, manifest), bars 03-03 (data, manifest), latest. A kill after each
# of them, between every data file and its manifest included.
@pytest.mark.parametrize("allowed", range(14), ids=lambda n: f"crash_after_{n}_writes")
def test_crash_then_replay_equals_no_crash(tmp_path, allowed, sim_records, snapshot_of) -> None:
    _, records = sim_records(["AAPL", "MSFT"], 3, seed=6, fault_rate=0.05)
    first, second = records[:1500], records[1500:]
    clean_lake = LocalLake(tmp_path / "clean")
    proc = Processor(clean_lake)
    expected = proc.process(first) + proc.process(second)

    root = tmp_path / "crashy"
    totals = Processor(LocalLake(root)).process(first)
    with pytest.raises(Crash):
        Processor(CrashingLake(root, allowed)).process(second)
    crashed = LocalLake(root)
    assert not [p for p in crashed.list("") if ".tmp-" in p]
    # The checkpoint (and its totals) did not move: the consumer re-reads `second`.
    totals = totals + Processor(crashed).process(second)
    assert totals == expected
    assert snapshot_of(crashed) == snapshot_of(clean_lake)


def _bars_by_dt(lake: LocalLake) -> dict[str, dict[str, bytes]]:
    """dt -> the bars files that count in it, by path, with their bytes."""
    files = manifest.live_files(lake, "processed-data/bars")
    return {dt: {p: lake.read_bytes(p) for p in paths} for dt, paths in files.items()}


def test_late_correction_recomputes_only_downstream(tmp_path, sim_records, table_of) -> None:
    sim, records = sim_records(["AAPL", "MSFT"], 3, seed=7)
    target = json.loads(records[900].data)  # AAPL, second session
    assert target["symbol"] == "AAPL"
    fixed = Bar(
        "AAPL", "1min", pd.Timestamp(target["ts"]).to_pydatetime(), target["open"],
        target["high"] + 5, target["low"], target["close"] + 4.5, target["volume"], "fix",
    )  # fmt: skip
    correction = StreamRecord("shardId-000000000000", "999999", "AAPL", fixed.to_json(),
                              records[-1].arrival_ts)  # fmt: skip
    lake = LocalLake(tmp_path / "inc")
    Processor(lake).process(records)
    before_files = _bars_by_dt(lake)
    before = table_of(lake, "processed-data/bars")
    stats = Processor(lake).process([correction])
    assert (stats.read, stats.kept, stats.duplicates, stats.quarantined) == (1, 0, 1, 0)
    after_files = _bars_by_dt(lake)
    after = table_of(lake, "processed-data/bars")
    first_dt = min(after_files)
    assert after_files[first_dt] == before_files[first_dt]  # the earlier session is untouched
    t0 = pd.Timestamp(target["ts"])
    key = ["symbol", "interval", "ts"]
    old = before.set_index(key).sort_index()
    new = after.set_index(key).sort_index()
    untouched = (new.index.get_level_values("symbol") == "MSFT") | (
        new.index.get_level_values("ts") < t0
    )
    pd.testing.assert_frame_equal(new[untouched], old[untouched])
    aapl_after = new.xs("AAPL", level="symbol").xs("1min", level="interval")
    assert aapl_after.loc[t0, "close"] == target["close"] + 4.5
    assert aapl_after.loc[t0, "ingest_seq"] == "999999"
    # Downstream equals a one-shot run where the correction was there from the start.
    oneshot = LocalLake(tmp_path / "oneshot")
    Processor(oneshot).process([*records, correction])
    ref = table_of(oneshot, "processed-data/bars").set_index(key).sort_index()
    pd.testing.assert_frame_equal(new, ref)
    daily = table_of(lake, "processed-data/daily").set_index(["symbol", "dt"]).sort_index()
    ref_daily = table_of(oneshot, "processed-data/daily").set_index(["symbol", "dt"]).sort_index()
    pd.testing.assert_frame_equal(daily, ref_daily)


def test_reprocess_from_raw_equals_online(tmp_path, sim_records, snapshot_of) -> None:
    _, records = sim_records(["AAPL", "META"], 2, seed=9, fault_rate=0.05)
    online = LocalLake(tmp_path / "online")
    proc = Processor(online)
    for i in range(0, len(records), 500):
        proc.process(records[i : i + 500])
    raw = LocalLake(tmp_path / "raw")
    archiver = RawArchiver(raw)
    for i in range(0, len(records), 300):
        archiver.write(records[i : i + 300])
    # Stale output from an earlier run must disappear in a full rebuild.
    raw.write_bytes("processed-data/bars/dt=2001-01-02/part-0.parquet", b"junk")
    stats = reprocess(raw)
    assert stats.balanced and stats.read == len(records)
    online_files = {k: v for k, v in snapshot_of(online).items()}
    rebuilt = {k: v for k, v in snapshot_of(raw).items() if not k.startswith("raw-data")}
    assert rebuilt == online_files


def test_stats_add_and_state_round_trip() -> None:
    a = BatchStats(3, 1, 1, 1, {"invalid_json": 1})
    b = BatchStats(2, 2, 0, 0)
    total = a + b
    assert dataclasses.astuple(total)[:4] == (5, 3, 1, 1)
    assert BatchStats.from_state(total.to_state()) == total
    assert BatchStats.from_state(None) == BatchStats()
