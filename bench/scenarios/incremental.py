"""Scenario 7, incremental scaling: one 1-minute micro-batch (one bar per symbol, the
next session's minutes one after the other) processed by the engine's `Processor`
against stored histories of different lengths that end on the same session.

The histories are cached fixtures in the engine's on-disk format (bench/fixtures.py);
each run works on a hard-linked copy, so the fixture stays as built.

    python bench/scenarios/incremental.py --symbols 500 --histories 1,30,252 --minutes 5
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness
from harness import Size

ID = "incremental"
TITLE = "Incremental scaling"
SIZES = {
    "symbols": Size(500, 10, "symbols in the history and in each micro-batch"),
    "histories": Size("1,30,252", "1,2", "stored history lengths in sessions (252 = 1 year)"),
    "minutes": Size(5, 2, "consecutive micro-batches timed per history; the figure is the median"),
}
TARGET_FACTOR = 1.5
YEAR = 252


def micro_batch(syms: list[str], day: Any, minute: int, first_seq: int) -> list[Any]:
    """The stream records of one minute: one bar per symbol, numbered after the history."""
    from fixtures import _shard_of
    from stockpipe.sources.simulator import session_bars
    from stockpipe.stream.base import StreamRecord

    shard = _shard_of(syms)
    now = datetime.now(UTC)
    return [
        StreamRecord(
            shard_id=shard[sym],
            sequence_number=f"{first_seq + i:020d}",
            partition_key=sym,
            data=session_bars(0, sym, day).bar(minute).to_json(),
            arrival_ts=now,
        )
        for i, sym in enumerate(syms)
    ]


def run(symbols: int, histories: str, minutes: int) -> dict[str, Any]:
    import workloads

    import fixtures
    from stockpipe import calendar
    from stockpipe.lake.local import LocalLake
    from stockpipe.processing.engine import Processor

    lengths = [int(h) for h in str(histories).split(",") if h.strip()]
    year = workloads.sessions(max(YEAR, *lengths), workloads.YEAR_START)
    end = year[-1]
    nxt = calendar.next_session(end)
    syms = workloads.symbols(symbols)
    rows, medians, notes = [], {}, []
    for h in lengths:
        started = time.perf_counter()
        fixture = fixtures.processed_lake(symbols, h, year[len(year) - h])
        built = time.perf_counter() - started
        work = harness.scratch_dir(ID)
        try:
            harness.link_copy(fixture, work / "lake")
            processor = Processor(LocalLake(work / "lake"))
            durations = []
            for m in range(minutes):
                records = micro_batch(syms, nxt, m, 10**15 + m * symbols)
                seconds, stats = harness.timed(lambda r=records, p=processor: p.process(r))
                if stats.kept != symbols:
                    raise RuntimeError(f"micro-batch kept {stats.kept} of {symbols} bars")
                durations.append(seconds)
        finally:
            harness.remove(work)
        medians[h] = harness.median(durations)
        rows.append(
            {
                "history": f"{h} session(s)",
                "stored bars": h * symbols * 390,
                "median s": round(medians[h], 3),
                "runs s": " / ".join(f"{d:.2f}" for d in durations),
                "fixture ready s": round(built, 1),
            }
        )
    notes += [
        f"each micro-batch: {symbols} bars (one per symbol) of minute m of {nxt}, the session "
        f"after the history's last ({end}); minutes 0..{minutes - 1} in order on one copy",
        "timed: `Processor.process(records)` until durable (clean, merge, indicators resumed "
        "from stored state, partitions rewritten); the stream poll and checkpoint are not in it",
    ]
    targets = []
    short, longest = min(lengths), max(lengths)
    if short == 1 and longest >= YEAR:
        factor = medians[longest] / medians[1]
        targets.append(
            harness.target(
                "1-year time / 1-day time",
                round(factor, 2),
                "<=",
                TARGET_FACTOR,
                "x",
                f"the micro-batch took {medians[longest]:.2f} s with 1 year of history and "
                f"{medians[1]:.2f} s with 1 day",
            )
        )
    else:
        targets.append(
            harness.not_measured(
                "1-year time / 1-day time",
                "<=",
                TARGET_FACTOR,
                "x",
                f"not measured: --histories {histories} lacks 1 or {YEAR}",
            )
        )
    return {"metrics": {"medians": medians}, "targets": targets, "rows": rows, "notes": notes}


if __name__ == "__main__":
    harness.ensure_bench_on_path()
    sys.exit(harness.scenario_main("scenarios.incremental"))
