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

import os
import re
import resource
import subprocess
import sys
import time
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


def cli_env(home: Path) -> dict[str, str]:
    """This environment without any STOCKPIPE_* setting, then the run's own home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPIPE_")}
    env.update(
        STOCKPIPE_HOME=str(home),
        STOCKPIPE_STREAM="local",
        STOCKPIPE_SHARDS=str(_shards()),
        STOCKPIPE_SQL="duckdb",
        STOCKPIPE_METRICS="local",
    )
    return env


def _shards() -> int:
    import workloads

    return workloads.SHARDS


def stockpipe(*args: str) -> list[str]:
    return [sys.executable, "-m", "stockpipe", *args]


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


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_command(argv: list[str], home: Path, timeout_s: float) -> tuple[float, float]:
    """(wall s, CPU s) of one CLI command run in `home`; raises when it fails."""
    cpu = cpu_of_children()
    started = time.perf_counter()
    proc = subprocess.run(
        argv,
        cwd=home,  # no stockpipe.toml from the caller's folder
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[2:])} exited with {proc.returncode}: {proc.stderr.strip()[-500:]}"
        )
    return seconds, cpu_of_children() - cpu


def lake_bars(home: Path) -> int:
    from stockpipe.config import load_settings
    from stockpipe.sql import run_query

    settings = load_settings({"home": str(home), "sql": "duckdb"}).settings
    return int(run_query("SELECT count(*) FROM bars", settings=settings).rows[0][0])


def run(symbols: int, days: int, workers: int, timeout_s: float) -> dict[str, Any]:
    work = harness.scratch_dir(ID)
    try:
        warm_home, home = work / "warm-up", work / "home"
        for folder in (warm_home, home):
            (folder / "stream").mkdir(parents=True)
        help_text = subprocess.run(
            stockpipe("process", "--help"),
            cwd=work,
            env=cli_env(home),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        parallel = workers_option(help_text)
        argv = stockpipe("process", *(["--workers", str(workers)] if parallel else []))
        fill(warm_home, *WARMUP)
        timed_command(argv, warm_home, timeout_s)  # compiles bytecode and the kernel's cache
        warm_s, _cpu = timed_command(argv, warm_home, timeout_s)  # nothing new: fixed cost
        bars = fill(home, symbols, days)
        seconds, cpu = timed_command(argv, home, timeout_s)
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
        {"measure": "command", "value": " ".join(argv[2:])},
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
            f"stream ({_shards()} shards) before the clock starts",
            "timed: `stockpipe process` from start to exit (it exits once caught up), "
            "interpreter start-up included; CPU from getrusage of the waited-for command",
            "`--workers` read from `stockpipe process --help`: "
            + ("present" if parallel else "absent, so one process did all the work"),
        ],
    }


if __name__ == "__main__":
    harness.ensure_bench_on_path()
    sys.exit(harness.scenario_main("scenarios.backlog"))
