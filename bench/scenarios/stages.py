"""Scenario 2, stage throughput: each stage alone, on the real code path.

ingest -> stream (simulator backfill through `run_ingest` into `LocalStream`),
stream -> raw (`run_archive`), stream -> processed (`run_process`), one after the other
on the same stream, so each stage has the whole backlog to itself.

    python bench/scenarios/stages.py --symbols 100 --days 2 --repeats 3
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness
from harness import Size

ID = "stages"
TITLE = "Stage throughput"
SIZES = {
    "symbols": Size(100, 4, "symbols backfilled"),
    "days": Size(2, 1, "sessions of 1-minute bars per symbol (390 bars each)"),
    "repeats": Size(3, 1, "runs; each figure is the median"),
}
STAGES = ("simulator alone", "ingest -> stream", "stream -> raw", "stream -> processed")


def run_once(n_symbols: int, n_days: int) -> dict[str, float]:
    import workloads

    from stockpipe.lake.local import LocalLake
    from stockpipe.pipeline import stages
    from stockpipe.sources.simulator import MarketSimulator

    syms, days = workloads.symbols(n_symbols), workloads.sessions(n_days)
    work = harness.scratch_dir(ID)
    out: dict[str, float] = {}
    try:
        # The simulator's own cost, so ingest's figure can be read without it.
        started = time.perf_counter()
        for _batch in MarketSimulator(syms, days).batches():
            pass
        out["simulator alone"] = time.perf_counter() - started
        stream = workloads.open_stream(work / "stream.db")
        lake = LocalLake(work / "lake")
        try:
            seconds, result = harness.timed(
                lambda: stages.run_ingest(MarketSimulator(syms, days), stream)
            )
            out["ingest -> stream"] = seconds
            seconds, archived = harness.timed(lambda: stages.run_archive(stream, lake))
            out["stream -> raw"] = seconds
            seconds, processed = harness.timed(lambda: stages.run_process(stream, lake))
            out["stream -> processed"] = seconds
        finally:
            stream.close()
        bars = n_symbols * n_days * 390
        if not (result.records == archived.records == processed.records == bars):
            raise RuntimeError(
                f"stages disagree: {bars} bars, ingested {result.records}, "
                f"archived {archived.records}, processed {processed.records}"
            )
    finally:
        harness.remove(work)
    return out


def run(symbols: int, days: int, repeats: int) -> dict[str, Any]:
    bars = symbols * days * 390
    runs = [run_once(symbols, days) for _ in range(repeats)]
    rows = []
    metrics: dict[str, Any] = {"bars": bars}
    for stage in STAGES:
        secs = harness.median([r[stage] for r in runs])
        rate = bars / secs
        metrics[f"{stage} bars_per_second"] = rate
        rows.append(
            {
                "stage": stage,
                "median s": round(secs, 2),
                "bars/s": round(rate),
                "runs s": " / ".join(f"{r[stage]:.2f}" for r in runs),
            }
        )
    return {
        "metrics": metrics,
        "targets": [],
        "rows": rows,
        "notes": [
            f"{bars:,} bars ({symbols} symbols x {days} sessions x 390), {repeats} run(s) each "
            "on a fresh stream and lake; the issue sets no target for single stages",
            "ingest includes generating the payloads (the 'simulator alone' row); archive "
            "and process read the backlog the ingest left, 10,000 records per poll as in "
            "`stockpipe run`",
        ],
    }


if __name__ == "__main__":
    harness.ensure_bench_on_path()
    sys.exit(harness.scenario_main("scenarios.stages"))
