"""Scenario 1, end-to-end throughput: simulator backfill -> embedded stream -> archive and
process -> lake, the three stages in concurrent processes as `stockpipe run` runs them.

    python bench/scenarios/e2e.py --symbols 100 --days 20 --repeats 1
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness
import issue21
from harness import Size

ID = "e2e"
TITLE = "End-to-end throughput"
SIZES = {
    "symbols": Size(100, 2, "symbols backfilled"),
    "days": Size(20, 1, "sessions of 1-minute bars per symbol (390 bars each)"),
    "repeats": Size(1, 1, "runs; the figure is their median"),
}
TARGET_RATE = issue21.E2E_RATE  # bars/s
TARGET_RSS = issue21.E2E_RSS_MIB * harness.MIB


def run_once(n_symbols: int, n_days: int) -> dict[str, Any]:
    import workloads

    work = harness.scratch_dir(ID)
    try:
        stream_path, lake_root = work / "stream.db", work / "lake"
        workloads.open_stream(stream_path).close()  # created before the stages race for it
        ctx = mp.get_context("spawn")
        ingest_done, results = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(
                target=workloads.stage_process,
                args=(
                    stage,
                    str(stream_path),
                    str(lake_root),
                    n_symbols,
                    n_days,
                    ingest_done,
                    results,
                ),
            )
            for stage in ("ingest", "archive", "process")
        ]
        started = time.perf_counter()
        for proc in procs:
            proc.start()
        stages = {}
        while len(stages) < len(procs):
            try:
                item = results.get(timeout=1.0)
                stages[item["stage"]] = item
            except Exception:  # noqa: BLE001 - queue.Empty: a stage may have died
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(
                        f"a stage process exited with code {dead[0].exitcode}"
                    ) from None
        for proc in procs:
            proc.join()
        seconds = time.perf_counter() - started
    finally:
        harness.remove(work)
    return {"seconds": seconds, "stages": stages}


def _bottleneck(stages: dict[str, Any]) -> str:
    rates = {name: s["records"] / s["seconds"] for name, s in stages.items() if s["seconds"] > 0}
    slow = min(rates, key=rates.__getitem__)
    return (
        f"the slowest stage, {slow}, averaged {rates[slow]:,.0f} bars/s over its own "
        "lifetime; scenario 2 times each stage alone"
    )


def run(symbols: int, days: int, repeats: int) -> dict[str, Any]:
    bars = symbols * days * 390
    runs = [run_once(symbols, days) for _ in range(repeats)]
    seconds = harness.median([r["seconds"] for r in runs])
    rate = bars / seconds
    last = runs[-1]["stages"]
    kept = last["process"]["extra"].get("kept")
    rss_sum = max(sum(s["peak_rss_bytes"] for s in r["stages"].values()) for r in runs)
    rss_max = max(max(s["peak_rss_bytes"] for s in r["stages"].values()) for r in runs)
    if kept != bars or last["archive"]["records"] != bars:
        raise RuntimeError(
            f"the run lost bars: {bars} produced, {last['archive']['records']} archived, "
            f"{kept} kept by processing"
        )
    rows = [
        {
            "stage": name,
            "records": s["records"],
            "process wall s": round(s["seconds"], 1),
            "peak RSS MiB": round(s["peak_rss_bytes"] / harness.MIB),
        }
        for name, s in last.items()
    ]
    return {
        "metrics": {
            "bars": bars,
            "seconds_median": seconds,
            "seconds_runs": [r["seconds"] for r in runs],
            "bars_per_second": rate,
            "peak_rss_sum_bytes": rss_sum,
            "peak_rss_max_process_bytes": rss_max,
        },
        "targets": [
            harness.target(
                "throughput",
                rate,
                ">=",
                TARGET_RATE,
                "bars/s",
                _bottleneck(last),
            ),
            harness.target(
                "peak RSS (sum of the 3 stage processes)",
                round(rss_sum / harness.MIB),
                "<=",
                TARGET_RSS / harness.MIB,
                "MiB",
                "the stage processes together exceed 2 GiB",
            ),
        ],
        "rows": rows,
        "notes": [
            f"{bars:,} bars = {symbols} symbols x {days} sessions x 390 one-minute bars; "
            f"median of {repeats} run(s): " + ", ".join(f"{r['seconds']:.1f} s" for r in runs),
            "wall time from starting the three stage processes (ingest, archive, process, "
            "concurrent, like `stockpipe run`) until the last checkpoint covers every record; "
            "includes interpreter start-up",
            "peak RSS is each stage process's own getrusage maximum; the target uses their "
            "sum, an upper bound of what was resident at once",
            "the process stage is one `run_process` in one process (this scenario passes no "
            "worker count); scenario 10 times `stockpipe process --workers N` alone",
        ],
    }


if __name__ == "__main__":
    harness.ensure_bench_on_path()
    sys.exit(harness.scenario_main("scenarios.e2e"))
