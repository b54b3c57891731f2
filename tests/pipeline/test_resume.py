"""Issue 19 item 2 and 4: a restart resumes (backfill skips what is held, live continues
after the last bar, same bars as without the restart), the phase and the simulated clock."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta

from stockpipe.lake.local import LocalLake
from stockpipe.pipeline import runstate
from stockpipe.pipeline.resume import MarkedSource, lake_last_bars, load_mark, resume_points
from stockpipe.pipeline.stages import run_archive, run_ingest, run_process
from stockpipe.sources.simulator import MarketSimulator
from stockpipe.stream.local import LocalStream

DAYS = [date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)]  # Mon-Wed, 390 bars each
MIN = timedelta(minutes=1)


def _fixed_clock(moment: datetime) -> type[datetime]:
    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return moment.astimezone(tz)

    return Clock


def _keys(payloads: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
    out = []
    for _, data in payloads:
        doc = json.loads(data)
        out.append((doc["symbol"], doc["ts"]))
    return out


def test_backfill_skips_held_sessions_and_sends_only_the_rest_of_a_partial_one() -> None:
    full = [p for b in MarketSimulator(["AAPL", "MSFT"], DAYS, seed=4).batches() for p in b]
    # AAPL holds everything up to Tue 15:00 UTC (bar 30 of Tuesday); MSFT all of Monday.
    held = {
        "AAPL": datetime(2026, 12, 1, 15, 0, tzinfo=UTC),
        "MSFT": datetime(2026, 11, 30, 20, 59, tzinfo=UTC),
    }
    sim = MarketSimulator(["AAPL", "MSFT"], DAYS, seed=4, resume_after=held)
    resumed = [p for b in sim.batches() for p in b]
    expected = [
        p for p in full if json.loads(p[1])["ts"] > held[p[0]].strftime("%Y-%m-%dT%H:%M:%SZ")
    ]
    assert resumed == expected
    # Worked out by hand: AAPL 359 of Tuesday (14:30..15:00 held = 31 bars) + 390 of Wednesday;
    # MSFT 390 + 390.
    assert len(resumed) == (390 - 31) + 390 + 2 * 390 == 1529
    assert sim.progress()["phase"] == "done" and sim.progress()["sessions_done"] == 3


def test_resumed_faults_are_the_ones_an_uninterrupted_run_injects() -> None:
    full = MarketSimulator(["JPM"], DAYS[:1], seed=9, fault_rate=0.2)
    everything = [p for b in full.batches() for p in b]
    cut = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    resumed = MarketSimulator(["JPM"], DAYS[:1], seed=9, fault_rate=0.2, resume_after={"JPM": cut})
    tail = [p for b in resumed.batches() for p in b]
    # The resumed run's payloads are a suffix of the uninterrupted run's.
    assert tail and everything[-len(tail) :] == tail
    assert resumed.faults.malformed + resumed.faults.duplicates > 0


def test_phase_reads_backfill_sessions_then_live() -> None:
    sunday = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    sim = MarketSimulator(["AAPL"], DAYS, seed=1, live=True, speed=6000, clock=_fixed_clock(sunday))
    seen = []
    for i, _ in enumerate(sim.batches()):
        seen.append(runstate.phase_text(sim.progress()))
        if i == 4:
            sim.stop()
    assert seen[:3] == [
        "backfill 0/3 sessions",
        "backfill 1/3 sessions",
        "backfill 2/3 sessions",
    ]
    assert seen[3] == "live"
    clock = runstate.clock_text(sim.progress())
    # Sunday's live feed produces Monday's bars, and the clock says so (in New York time).
    assert clock.startswith("simulated Mon 2026-12-07 ") and clock.endswith(" ET, 6000x")


def test_live_continues_after_the_last_held_bar_with_the_same_bars() -> None:
    sunday = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    clock = _fixed_clock(sunday)

    def live_bars(resume: dict[str, datetime] | None, n: int) -> list[tuple[str, bytes]]:
        sim = MarketSimulator(
            ["AAPL", "NVDA"], DAYS, seed=2, live=True, speed=60000, clock=clock, resume_after=resume
        )
        out: list[tuple[str, bytes]] = []
        for batch in sim.live_batches():
            out += batch
            if len(out) >= n:
                sim.stop()
        return out

    straight = live_bars(None, 2 * 20)
    last = datetime(2026, 12, 7, 14, 40, tzinfo=UTC)  # Monday 09:40 ET was the last bar held
    resumed = live_bars({"AAPL": last, "NVDA": last}, 2 * 9)
    assert _keys(resumed)[:2] == [
        ("AAPL", "2026-12-07T14:41:00Z"),
        ("NVDA", "2026-12-07T14:41:00Z"),
    ]
    # The bars after the restart are the very bars the uninterrupted run produced.
    assert resumed == straight[2 * 11 : 2 * 20]


def test_speed_1_in_market_hours_carries_the_real_minute_and_catches_up_a_gap() -> None:
    now = datetime(2026, 12, 8, 15, 41, 30, tzinfo=UTC)  # Tuesday 10:41:30 ET, market open
    clock = _fixed_clock(now)
    fresh = MarketSimulator(["AAPL"], DAYS, live=True, speed=1, clock=clock)
    assert fresh._first_live_minute() == datetime(2026, 12, 8, 15, 41, tzinfo=UTC)
    assert fresh._anchor(fresh._first_live_minute()) == now  # the clock is the real clock
    # Restarted after a 3-minute stop: the missed minutes come at once, then real time.
    held = {"AAPL": datetime(2026, 12, 8, 15, 37, tzinfo=UTC)}
    sim = MarketSimulator(["AAPL"], DAYS, live=True, speed=1, clock=clock, resume_after=held)
    got = []
    for batch in sim.live_batches():
        got += _keys(batch)
        if len(got) == 3:
            sim.stop()
    assert [ts for _, ts in got] == [
        "2026-12-08T15:38:00Z",
        "2026-12-08T15:39:00Z",
        "2026-12-08T15:40:00Z",
    ]
    assert sim.sim_clock is not None and abs(sim.sim_clock - now) < timedelta(seconds=5)


def test_resume_points_combine_the_lake_and_the_producer_mark(tmp_path) -> None:
    """Ingest 2 sessions, process only part, stop: the resumed backfill sends nothing again."""
    lake = LocalLake(tmp_path / "lake")
    stream = LocalStream(tmp_path / "stream.db", shard_count=2)
    sim = MarketSimulator(["AAPL", "MSFT"], DAYS[:2], seed=5)
    source = MarkedSource(sim, lake)
    run_ingest(source, stream)
    mark = load_mark(lake, "simulator")
    assert mark == {s: datetime(2026, 12, 1, 20, 59, tzinfo=UTC) for s in ("AAPL", "MSFT")}
    # The lake has nothing yet: the mark alone covers what the stream holds.
    assert lake_last_bars(lake, ["AAPL", "MSFT"]) == {}
    run_archive(stream, lake)
    run_process(stream, lake)
    assert lake_last_bars(lake, ["AAPL", "MSFT", "IBM"]) == mark
    held = resume_points(lake, "simulator", ["AAPL", "MSFT", "IBM"])
    again = MarketSimulator(["AAPL", "MSFT", "IBM"], DAYS[:2], seed=5, resume_after=held)
    sent = [p for b in again.batches() for p in b]
    assert {s for s, _ in sent} == {"IBM"} and len(sent) == 2 * 390
    stream.close()


def test_a_clean_stop_marks_the_batch_in_hand(tmp_path) -> None:
    lake = LocalLake(tmp_path / "lake")
    stream = LocalStream(tmp_path / "stream.db", shard_count=1)
    stop = threading.Event()
    stop.set()  # stop after the first batch (AAPL, Monday) is put
    run_ingest(MarkedSource(MarketSimulator(["AAPL"], DAYS, seed=5), lake), stream, stop)
    assert load_mark(lake, "simulator") == {"AAPL": datetime(2026, 11, 30, 20, 59, tzinfo=UTC)}
    assert stream.pending("shardId-000000000000", None) == 390
    stream.close()


def test_a_stop_during_the_backfill_keeps_the_backfill_phase() -> None:
    sim = MarketSimulator(["AAPL"], DAYS, seed=1, live=True, speed=60)
    for i, _ in enumerate(sim.batches()):
        if i == 1:  # the second session (one symbol: one batch each) has been sent
            sim.stop()
    assert runstate.phase_text(sim.progress()) == "backfill 2/3 sessions"


def test_speed_1_never_fakes_minutes_ahead_of_the_real_clock() -> None:
    """A 60x run got ahead of the real time; a restart at speed 1 waits for it."""
    now = datetime(2026, 12, 8, 15, 0, 30, tzinfo=UTC)  # Tuesday 10:00:30 ET
    held = {"AAPL": datetime(2026, 12, 8, 15, 41, tzinfo=UTC)}
    sim = MarketSimulator(
        ["AAPL"], DAYS, live=True, speed=1, clock=_fixed_clock(now), resume_after=held
    )
    cursor = sim._first_live_minute()
    assert cursor == datetime(2026, 12, 8, 15, 42, tzinfo=UTC)  # after the last held bar
    assert sim._anchor(cursor) == now  # the clock stays the real one: 15:42 comes at 15:43
    sunday = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    closed = MarketSimulator(["AAPL"], DAYS, live=True, speed=1, clock=_fixed_clock(sunday))
    monday_open = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
    assert closed._first_live_minute() == monday_open
    assert closed._anchor(monday_open) == monday_open  # closed market: skip to the open
