"""`stockpipe process --workers N`: N worker processes, each owning a hash-key slice.

Worker k of N (stream/slices.py) reads the shards that meet its slice, processes the
records in it as writer `w{k}` and checkpoints as consumer `process-w{k}`, under its own
lock: a series' state never crosses workers, and rows of different workers never share a
data file (docs/processing.md, "Workers").

The parent holds the `process` lock for the whole run (a single `process`, `reprocess` or
`compact` cannot run beside the workers), settles the lake's workers and indicator
sessions before the first worker starts (so workers never race to record them), then
spawns the workers with SIGINT ignored: Ctrl-C or SIGTERM reaches the parent, which sends
each worker SIGTERM, on which it finishes its batch and checkpoints. A worker that fails
stops the others, and the command exits non-zero with that worker's one-line error.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stockpipe.config import Settings
from stockpipe.errors import StockpipeError
from stockpipe.lake import Lake, open_lake
from stockpipe.lake.lock import consumer_lock
from stockpipe.pipeline.backends import open_stage
from stockpipe.pipeline.runner import STOP_TIMEOUT, describe_exit, error_line, watch_parent
from stockpipe.pipeline.signals import StopSignals, sigint_ignored
from stockpipe.pipeline.stages import PROCESS_CONSUMER, StageResult, run_process
from stockpipe.processing.base import BatchStats
from stockpipe.processing.sessions import settle_indicator_sessions
from stockpipe.processing.workers import (
    has_rows,
    lake_workers,
    recorded_workers,
    settle_workers,
)
from stockpipe.stream.base import Stream
from stockpipe.stream.slices import HashSlice, check_workers

POLL_S = 0.5  # how often the parent renews its lease and looks at the workers


class WorkerFailed(StockpipeError):
    """A worker of `process --workers N` failed; the others were stopped."""


@dataclass
class WorkersResult:
    """The workers' results summed: records, this run's counts, the running totals."""

    records: int = 0
    run: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


#: `stockpipe run` never starts more workers than this on its own (`run --workers` may).
DEFAULT_MAX_WORKERS = 4


def pick_workers(lake: Lake, stream: Stream, requested: int | None) -> int:
    """The workers of `stockpipe run`'s process stage: `requested` (checked against the
    lake's), else the lake's recorded number, else for a lake without processed rows
    min(CPU cores, open shards, 4): more workers than cores or shards only wait."""
    if requested is not None:
        check_workers(requested)
        if has_rows(lake) and lake_workers(lake) != requested:
            settle_workers(lake, requested)  # refused, naming both and the fix
        return requested
    return default_workers(
        lake,
        lambda: max(
            1, min(os.cpu_count() or 1, stream.describe().open_shards, DEFAULT_MAX_WORKERS)
        ),
    )


def default_workers(lake: Lake, new_lake: Callable[[], int]) -> int:
    """The workers a command runs without `--workers`: the lake's recorded number (or the
    one its rows imply), else `new_lake()` for a lake not processed yet. `stockpipe
    process` passes 1, `stockpipe run` the machine's default (`pick_workers`)."""
    if recorded_workers(lake) is not None or has_rows(lake):
        return lake_workers(lake)
    return new_lake()


def process_stage(
    settings: Settings,
    stop: threading.Event,
    *,
    follow: bool,
    reset: bool,
    hash_slice: HashSlice | None = None,
) -> StageResult:
    """`run_process` over the backends the settings name (one worker's, with a slice)."""
    with open_stage(settings, "process") as backends:
        return run_process(
            backends.stream,
            backends.lake,
            follow=follow,
            stop=stop,
            metric=backends.metric,
            reset=reset,
            indicator_sessions=settings.indicator_sessions,
            hash_slice=hash_slice,
        )


def worker_main(
    settings: Settings,
    spec: str,
    results: Any,
    *,
    follow: bool,
    reset: bool,
    debug: bool = False,
) -> None:
    """Entry point of worker `spec` ("K/N"): its result or its one-line error goes to
    `results`; an error also sets the exit code."""
    piece = HashSlice.parse(spec)
    try:
        with StopSignals((signal.SIGTERM,)) as stop:
            threading.Thread(target=watch_parent, args=(stop,), daemon=True).start()
            result = process_stage(settings, stop, follow=follow, reset=reset, hash_slice=piece)
    except Exception as exc:  # noqa: BLE001 - the one-line promise holds in workers too
        if debug:
            raise
        message, code = error_line(exc)
        results.put(("error", piece.index, message, code))
        raise SystemExit(code) from None
    results.put(("ok", piece.index, result.records, result.run, result.extra))


def run_workers(
    settings: Settings,
    count: int,
    *,
    follow: bool = False,
    reset: bool = False,
    stop: threading.Event | None = None,
    debug: bool = False,
) -> WorkersResult:
    """Run `count` workers until each is caught up (or, with `follow`, until `stop`)."""
    check_workers(count)
    stop = stop or threading.Event()
    lake = open_lake(settings.lake_location)
    with consumer_lock(lake, PROCESS_CONSUMER) as lock:
        settle_workers(lake, count)
        settle_indicator_sessions(lake, settings.indicator_sessions)
        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        procs = [
            ctx.Process(
                target=worker_main,
                args=(settings, f"{k}/{count}", results),
                kwargs={"follow": follow, "reset": reset, "debug": debug},
                name=f"stockpipe-process-w{k}",
            )
            for k in range(count)
        ]
        with sigint_ignored():
            for proc in procs:
                proc.start()
        messages: dict[int, tuple[Any, ...]] = {}
        try:
            failed = _supervise(procs, results, messages, stop, lock.renew)
        finally:
            _stop(procs)
        _drain(results, messages)
        if failed is not None:
            raise _failure(failed, procs[failed].exitcode, messages.get(failed), count)
    return _sum(messages.values())


def _supervise(
    procs: list[Any],
    results: Any,
    messages: dict[int, tuple[Any, ...]],
    stop: threading.Event,
    renew: Any,
) -> int | None:
    """Wait until every worker ended (or `stop`); the index of the first that failed."""
    while not stop.is_set():
        renew()
        _drain(results, messages, POLL_S)
        for k, proc in enumerate(procs):
            if proc.exitcode not in (None, 0):
                return k
        if all(proc.exitcode == 0 for proc in procs):
            return None
    return None


def _stop(procs: list[Any]) -> None:
    """SIGTERM the workers still running and wait for their checkpoints."""
    for proc in procs:
        if proc.is_alive():
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
    for proc in procs:
        proc.join(STOP_TIMEOUT)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _drain(results: Any, messages: dict[int, tuple[Any, ...]], wait: float = 0.0) -> None:
    try:
        item = results.get(timeout=wait) if wait else results.get_nowait()
        while True:
            messages[int(item[1])] = tuple(item)
            item = results.get_nowait()
    except queue.Empty:
        return


def _failure(k: int, code: int | None, message: tuple[Any, ...] | None, count: int) -> WorkerFailed:
    if message is not None and message[0] == "error":
        error = WorkerFailed(f"process worker {k}/{count}: {message[2]}")
        error.exit_code = int(message[3]) or 1
        return error
    return WorkerFailed(f"process worker {k}/{count} stopped: {describe_exit(code)}")


def _sum(messages: Any) -> WorkersResult:
    out, run, totals = WorkersResult(), BatchStats(), BatchStats()
    for message in messages:
        if message[0] != "ok":
            continue
        out.records += int(message[2])
        run = run + BatchStats.from_state(message[3])
        totals = totals + BatchStats.from_state(message[4])
    out.run, out.extra = run.to_state(), totals.to_state()
    return out
