"""Workloads shared by the scenarios: symbols, sessions, and the pipeline's stage processes.

Every stage runs through the real code path (`stockpipe.pipeline.stages`), on the
embedded stream (`LocalStream`, SQLite) and a local lake, exactly as `stockpipe run` does.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

# Fixed dates, so every run (and every cached fixture) holds the same bars.
BACKFILL_START = date(2026, 1, 5)
YEAR_START = date(2025, 1, 2)
SHARDS = 4  # the embedded stream's default (STOCKPIPE_SHARDS)


def symbols(count: int) -> list[str]:
    """`count` made-up tickers; the simulator gives each stable parameters."""
    return [f"SYM{i:03d}" for i in range(count)]


def sessions(count: int, start: date = BACKFILL_START) -> list[date]:
    from stockpipe import calendar

    return calendar.sessions_from(start, count)


def open_stream(path: Path) -> Any:
    from stockpipe.stream.local import LocalStream

    return LocalStream(path, shard_count=SHARDS)


def drained(stream: Any, lake: Any, consumer: str) -> bool:
    """True when the consumer's committed checkpoint is at the end of every shard."""
    from stockpipe.lake.checkpoints import LakeCheckpointStore

    shards = LakeCheckpointStore(lake).load(consumer).shards
    return all(
        stream.pending(s.shard_id, shards.get(s.shard_id)) == 0 for s in stream.list_shards()
    )


def stage_process(
    stage: str,
    stream_path: str,
    lake_root: str,
    n_symbols: int,
    n_days: int,
    ingest_done: Any,
    results: Any,
) -> None:
    """One stage of a backfill pipeline, in its own process (spawned by the scenario).

    ingest: the simulator's backfill into the stream, then sets `ingest_done`.
    archive/process: follow the stream until ingest is done and the checkpoint has
    reached the end of every shard.
    """
    import resource

    from stockpipe.lake.local import LocalLake
    from stockpipe.pipeline import stages
    from stockpipe.sources.simulator import MarketSimulator

    started = time.perf_counter()
    stream = open_stream(Path(stream_path))
    lake = LocalLake(lake_root)
    extra: dict[str, Any] = {}
    try:
        if stage == "ingest":
            source = MarketSimulator(symbols(n_symbols), sessions(n_days))
            result = stages.run_ingest(source, stream)
            ingest_done.set()
        else:
            stop = threading.Event()
            consumer = stages.ARCHIVE_CONSUMER if stage == "archive" else stages.PROCESS_CONSUMER
            failed: list[BaseException] = []

            def watch() -> None:
                # Its own connection: SQLite objects stay in the thread that made them.
                watcher = open_stream(Path(stream_path))
                try:
                    while not stop.is_set():
                        if ingest_done.is_set() and drained(watcher, lake, consumer):
                            stop.set()
                        stop.wait(0.1)
                except BaseException as exc:  # a dead watcher must not leave the stage running
                    failed.append(exc)
                    stop.set()
                finally:
                    watcher.close()

            thread = threading.Thread(target=watch, daemon=True)
            thread.start()
            run = stages.run_archive if stage == "archive" else stages.run_process
            result = run(stream, lake, follow=True, stop=stop)
            thread.join()
            if failed:
                raise RuntimeError(f"{stage} watcher failed: {failed[0]!r}")
            extra = result.extra
        records = result.records
    finally:
        stream.close()
    results.put(
        {
            "stage": stage,
            "records": records,
            "seconds": time.perf_counter() - started,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "extra": extra,
        }
    )


# -- `stockpipe` commands --------------------------------------------------------------


@dataclass(frozen=True)
class CommandRun:
    seconds: float  # wall
    cpu_seconds: float  # user + sys of the command's process and every process it waited for
    output: str  # stdout and stderr


def cli_env(home: Path) -> dict[str, str]:
    """This environment without any STOCKPIPE_* setting, then a home of the run's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPIPE_")}
    env.update(
        STOCKPIPE_HOME=str(home),
        STOCKPIPE_STREAM="local",
        STOCKPIPE_SHARDS=str(SHARDS),
        STOCKPIPE_SQL="duckdb",
        STOCKPIPE_METRICS="local",
    )
    return env


def _command_process(argv: list[str], home: str, env: dict[str, str], out: str) -> None:
    """`stockpipe <argv>` in this (fresh, spawned) interpreter: the console script's own
    `main`, run from `home` (no stockpipe.toml of the caller's) with `env`, its stdout and
    stderr in the file `out`. Its exit code is the command's."""
    os.chdir(home)
    os.environ.clear()
    os.environ.update(env)
    with open(out, "wb") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        from stockpipe.cli import main

        try:
            main(argv)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(argv: list[str], home: Path, timeout_s: float) -> CommandRun:
    """Run `stockpipe <argv>` in its own process, as a user would, and time it; raises
    with the command's last output when it fails or outlives `timeout_s`."""
    out = home / f".command-{time.monotonic_ns()}.log"
    proc = mp.get_context("spawn").Process(
        target=_command_process, args=(argv, str(home), cli_env(home), str(out))
    )
    cpu, started = _cpu_of_children(), time.perf_counter()
    proc.start()
    proc.join(timeout_s)
    seconds = time.perf_counter() - started
    if proc.is_alive():
        proc.kill()
        proc.join()
    output = out.read_text(errors="replace") if out.exists() else ""
    out.unlink(missing_ok=True)
    if proc.exitcode != 0:
        why = f"outlived {timeout_s:.0f} s" if seconds >= timeout_s else f"exited {proc.exitcode}"
        raise RuntimeError(f"stockpipe {' '.join(argv)} {why}: {output.strip()[-500:]}")
    return CommandRun(seconds, _cpu_of_children() - cpu, output)
