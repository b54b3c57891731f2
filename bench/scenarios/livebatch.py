"""Scenario 11, a live batch late in the session against one at the open (issue #21): does
the cost of a 1-minute micro-batch grow as the day's partition fills?

Both lakes start from the same history (the previous session, processed in one batch, not
timed), so every series is mature at the open. The session is then fed minute by minute,
one bar per symbol per batch, to the engine's `Processor` (what `stockpipe process` runs
per batch): lake "late" from the open up to the late window, then the two windows in
alternation, the open's minutes on lake "early" (after its warm-up minute 0) and the late
minutes on lake "late", the order swapped every pair so neither side always follows the
other. The figure is the median CPU time (this process's, all threads) of the late window's
batches over the early window's.

    python bench/scenarios/livebatch.py --symbols 500 --late 300 --window 10
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness
import issue21
from harness import Size

ID = "livebatch"
TITLE = "Live batch late in the session vs at the open"
SIZES = {
    "symbols": Size(500, 5, "symbols, one bar each per batch"),
    "late": Size(300, 12, "the session minute the late window ends on"),
    "window": Size(10, 3, "batches per window: minutes 1..window, and late-window+1..late"),
    "budget_s": Size(900.0, 120.0, "after this long filling minute by minute, fill in one batch"),
}
TARGET_RATIO = issue21.LATE_OVER_EARLY
SESSION = date(2026, 1, 6)  # the session fed live; the history is the one before it
CURVE = (1, 30, 60, 120, 180, 240)  # fill minutes whose batch CPU the report lists


def windows(late: int, window: int) -> tuple[list[int], list[int]]:
    """The early window's minutes (after warm-up minute 0) and the late window's."""
    if not 0 < window < late - window + 1:
        raise ValueError(f"--window {window} must be positive and leave the windows apart")
    return list(range(1, window + 1)), list(range(late - window + 1, late + 1))


def alternate(early: list[int], late: list[int]) -> list[tuple[str, int]]:
    """(side, minute) pairs in run order: early first, then late first, and so on."""
    order: list[tuple[str, int]] = []
    for i, pair in enumerate(zip(early, late, strict=True)):
        first, second = (("early", pair[0]), ("late", pair[1]))
        order += [first, second] if i % 2 == 0 else [second, first]
    return order


def ratio_of_medians(late: list[float], early: list[float]) -> float:
    return harness.median(late) / harness.median(early)


class Feed:
    """One lake and its Processor, fed 1-minute batches of `SESSION`."""

    def __init__(self, root: Path, syms: list[str]) -> None:
        from stockpipe.lake.local import LocalLake
        from stockpipe.processing.engine import Processor

        self.processor = Processor(LocalLake(root))
        self.syms = syms

    def records(self, day: date, minutes: range | list[int], seq_base: int) -> list[Any]:
        from scenarios.incremental import micro_batch

        n = len(self.syms)
        return [r for m in minutes for r in micro_batch(self.syms, day, m, seq_base + m * n)]

    def batch(self, minutes: range | list[int], day: date = SESSION) -> tuple[float, float]:
        """(CPU s, wall s) of one `process` call on `minutes` of `day`."""
        records = self.records(day, minutes, 10**12 if day == SESSION else 1)
        cpu, started = time.process_time(), time.perf_counter()
        stats = self.processor.process(records)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - started
        if stats.kept != len(records):
            raise RuntimeError(f"a batch kept {stats.kept} of {len(records)} bars")
        return cpu, wall


def run(symbols: int, late: int, window: int, budget_s: float) -> dict[str, Any]:
    import workloads

    from stockpipe import calendar

    early_minutes, late_minutes = windows(late, window)
    syms = workloads.symbols(symbols)
    history = calendar.sessions_from(date(2026, 1, 2), 3)
    previous = max(d for d in history if d < SESSION)
    work = harness.scratch_dir(ID)
    curve: dict[int, float] = {}
    notes: list[str] = []
    try:
        late_feed = Feed(work / "late", syms)
        history_cpu, _ = late_feed.batch(range(390), previous)
        harness.link_copy(work / "late", work / "early")
        early_feed = Feed(work / "early", syms)
        early_feed.batch([0])  # warm-up: the kernel's JIT, the state from the lake
        fill_started = time.perf_counter()
        minute = 0
        while minute < late_minutes[0]:
            if time.perf_counter() - fill_started > budget_s:
                late_feed.batch(range(minute, late_minutes[0]))
                notes.append(
                    f"filling minute by minute took over {budget_s:.0f} s, so minutes "
                    f"{minute}-{late_minutes[0] - 1} went in one batch (the late lake's "
                    "contents are the same; the late window is still fed minute by minute)"
                )
                break
            cpu, _ = late_feed.batch([minute])
            if minute in CURVE:
                curve[minute] = cpu
            minute += 1
        fill_s = time.perf_counter() - fill_started
        timed: dict[str, list[tuple[float, float]]] = {"early": [], "late": []}
        feeds = {"early": early_feed, "late": late_feed}
        for side, m in alternate(early_minutes, late_minutes):
            timed[side].append(feeds[side].batch([m]))
    finally:
        harness.remove(work)
    cpu = {side: [c for c, _ in pairs] for side, pairs in timed.items()}
    wall = {side: [w for _, w in pairs] for side, pairs in timed.items()}
    ratio = ratio_of_medians(cpu["late"], cpu["early"])
    rows = [
        {
            "batches": f"{side}: minutes {ms[0]}-{ms[-1]}",
            "median CPU s": round(harness.median(cpu[side]), 4),
            "median wall s": round(harness.median(wall[side]), 4),
            "CPU s per batch": " / ".join(f"{c:.3f}" for c in cpu[side]),
        }
        for side, ms in (("early", early_minutes), ("late", late_minutes))
    ]
    rows += [
        {"batches": f"fill: minute {m}", "CPU s per batch": f"{c:.3f}"} for m, c in curve.items()
    ]
    why = (
        f"a {symbols}-bar batch took {harness.median(cpu['late']):.3f} CPU-s at minutes "
        f"{late_minutes[0]}-{late} and {harness.median(cpu['early']):.3f} at minutes "
        f"{early_minutes[0]}-{early_minutes[-1]}"
    )
    notes += [
        f"{symbols} symbols, one 1-minute bar each per batch, session {SESSION}; history: "
        f"{previous} processed first in one batch ({history_cpu:.1f} CPU-s, not timed)",
        f"filling the late lake up to minute {late_minutes[0] - 1} took {fill_s:.0f} s; "
        "the fill rows are single batches from it",
        "CPU = time.process_time() around `Processor.process(records)` (this process, all "
        "threads): building the records and the stream poll are not in it",
    ]
    return {
        "metrics": {"cpu": cpu, "wall": wall, "ratio": ratio, "curve": curve},
        "targets": [
            harness.target(
                f"median CPU of a batch at minutes {late_minutes[0]}-{late} ÷ at minutes "
                f"{early_minutes[0]}-{early_minutes[-1]}",
                round(ratio, 2),
                "<=",
                TARGET_RATIO,
                "x",
                why,
            )
        ],
        "rows": rows,
        "notes": notes,
    }


if __name__ == "__main__":
    harness.ensure_bench_on_path()
    sys.exit(harness.scenario_main("scenarios.livebatch"))
