"""Scenario 10, the process stage alone on a backlog (issue #21): the simulator's backfill
is put into the embedded stream first (not timed), then `stockpipe process` (the CLI, in
its own process, exiting once caught up) turns the whole backlog into the lake, with
`--workers N` when the CLI has that option (read from `stockpipe process --help`).

A warm-up command on a small backlog in another home comes first, so the timed command
finds compiled bytecode and the kernel's on-disk JIT cache as a running deployment would;
the same command run again there, with nothing new to read, gives the fixed cost of one
command (start-up, opening the stream and the lake), reported beside the figure.

    python bench/scenarios/backlog.py --symbols 100 --days 20 --workers 2
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness
import issue21
from harness import Size

ID = "backlog"
TITLE = "Process stage alone on a backlog"
SIZES = {
    "symbols": Size(100, 2, "symbols backfilled"),
    "days": Size(20, 1, "sessions of 1-minute bars per symbol (390 bars each)"),
    "workers": Size(2, 2, "`stockpipe process --workers N`, when the CLI has the option"),
    "timeout_s": Size(1800.0, 300.0, "give up on the timed command after this long"),
}
TARGET_RATE = issue21.PROCESS_RATE
WARMUP = (1, 1)  # symbols, sessions of the warm-up command's backlog


def workers_option(help_text: str) -> bool:
    """True when `stockpipe process --help` lists a `--workers` option."""
    return re.search(r"(?<![\w-])--workers(?![\w-])", help_text) is not None


def fill(home: Path, n_symbols: int, n_days: int) -> int:
    """The simulator's backfill into the home's embedded stream; returns the bar count."""
    import workloads

    from stockpipe.pipeline import stages
    from stockpipe.sources.simulator import MarketSimulator

    stream = workloads.open_stream(home / "stream" / "stream.db")
    try:
        source = MarketSimulator(workloads.symbols(n_symbols), workloads.sessions(n_days))
        return stages.run_ingest(source, stream).records
    finally:
        stream.close()


def lake_bars(home: Path) -> int:
    from stockpipe.config import load_settings
    from stockpipe.sql import run_query

    settings = load_settings({"home": str(home), "sql": "duckdb"}).settings
    return int(run_query("SELECT count(*) FROM bars", settings=settings).rows[0][0])


def run(symbols: int, days: int, workers: int, timeout_s: float) -> dict[str, Any]:
    import workloads

    work = harness.scratch_dir(ID)
    try:
        warm_home, home = work / "warm-up", work / "home"
        for folder in (warm_home, home):
            (folder / "stream").mkdir(parents=True)
        help_text = workloads.run_command(["process", "--help"], work, 120.0).output
        if "Usage: stockpipe process" not in help_text:  # an unread help must not say "absent"
            raise RuntimeError(f"`stockpipe process --help` printed {help_text[:200]!r}")
        parallel = workers_option(help_text)
        argv = ["process", *(["--workers", str(workers)] if parallel else [])]
        fill(warm_home, *WARMUP)
        workloads.run_command(argv, warm_home, timeout_s)  # bytecode, the kernel's JIT cache
        warm_s = workloads.run_command(argv, warm_home, timeout_s).seconds  # nothing new
        bars = fill(home, symbols, days)
        timed = workloads.run_command(argv, home, timeout_s)
        seconds, cpu = timed.seconds, timed.cpu_seconds
        stored = lake_bars(home)
    finally:
        harness.remove(work)
    if stored != bars:
        raise RuntimeError(f"the lake holds {stored:,} bars of the {bars:,} in the backlog")
    rate = bars / seconds
    mode = f"--workers {workers}" if parallel else "1 worker: --workers not available"
    net = round(bars / (seconds - warm_s)) if seconds > warm_s else None
    rows = [
        {"measure": "bars in the backlog (all in the lake afterwards)", "value": bars},
        {"measure": "command", "value": " ".join(["stockpipe", *argv])},
        {"measure": "wall s", "value": round(seconds, 2)},
        {"measure": "bars/s (wall)", "value": round(rate)},
        {"measure": "CPU s (user + sys, all its processes)", "value": round(cpu, 2)},
        {"measure": "bars per CPU-s", "value": round(bars / cpu) if cpu else None},
        {
            "measure": "fixed cost of one command s (run again on a caught-up stream)",
            "value": round(warm_s, 2),
        },
        {"measure": "bars/s net of that fixed cost", "value": net},
    ]
    why = (
        f"{bars:,} bars in {seconds:.1f} s wall, {cpu:.1f} CPU-s ({mode}); one command's "
        f"fixed cost (start-up, lake open) is about {warm_s:.1f} s"
    )
    return {
        "metrics": {
            "bars": bars,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "bars_per_second": rate,
            "workers_option": parallel,
            "warm_up_seconds": warm_s,
        },
        "targets": [
            harness.target(
                f"process stage throughput ({mode})", round(rate), ">=", TARGET_RATE, "bars/s", why
            )
        ],
        "rows": rows,
        "notes": [
            f"{bars:,} bars = {symbols} symbols x {days} sessions x 390, put in the embedded "
            f"stream ({workloads.SHARDS} shards) before the clock starts",
            "timed: `stockpipe process` (the console script's `main`, in a spawned "
            "interpreter of its own) from start to exit (it exits once caught up), start-up "
            "included; CPU from getrusage of the waited-for command",
            "`--workers` read from `stockpipe process --help`: "
            + ("present" if parallel else "absent, so one process did all the work"),
        ],
    }


if __name__ == "__main__":
    harness.ensure_bench_on_path()
    sys.exit(harness.scenario_main("scenarios.backlog"))
