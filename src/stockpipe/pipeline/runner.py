"""`stockpipe run`: every stage as a cooperating process, plus a live status view.

Stages run in separate processes (spawned, not forked) that share nothing but the
stream and the lake, exactly as they would on separate machines.

Order of start-up, so a second run on the same home can never start a stage:
1. take the exclusive lock on STOCKPIPE_HOME (a second run exits at once naming the pid);
2. bind the dashboard port (a busy port is one line, before anything writes);
3. spawn the stages.

Stopping: the stage processes start with SIGINT ignored, so Ctrl-C in the terminal reaches
only this process (no KeyboardInterrupt traceback from a child still importing); it then
sends each stage SIGTERM, on which the stage finishes its batch, saves its checkpoint
and exits. A stage that dies on its own stops the run, which exits non-zero naming the
stage and its exit code or signal.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live

from stockpipe.config import Settings, configure
from stockpipe.errors import ConfigError, StockpipeError
from stockpipe.lake import open_lake
from stockpipe.pipeline import runstate, stages
from stockpipe.pipeline.backends import open_stage
from stockpipe.pipeline.homelock import HomeLock
from stockpipe.pipeline.signals import StopSignals, sigint_ignored
from stockpipe.sources.options import SourceOptions
from stockpipe.stream import open_stream

if TYPE_CHECKING:
    from stockpipe.lake.base import Lake
    from stockpipe.pipeline.stages import MetricFn
    from stockpipe.stream.base import Stream

console = Console()
STAGES = ("ingest", "archive", "process")
STOP_TIMEOUT = 30.0  # seconds a stage gets to finish its batch after SIGTERM
PROGRESS_EVERY = 1.0


class StageFailed(StockpipeError):
    """A stage process of `stockpipe run` exited on its own with an error or a signal."""


def describe_exit(code: int | None) -> str:
    """ "exit code 2", "killed by SIGKILL (signal 9)", or "running"."""
    if code is None:
        return "running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name} (signal {-code})"
    return f"exit code {code}"


def error_line(exc: Exception) -> tuple[str, int]:
    """An error of a stage (or worker) process as one line and its exit code."""
    if isinstance(exc, StockpipeError):
        message, code = str(exc), exc.exit_code
    else:
        message, code = f"{type(exc).__name__}: {exc} (run with --debug for the traceback)", 1
    return message.replace("\n", " "), code


def stage_main(
    stage: str,
    overrides: dict[str, Any],
    config_file: str | None,
    source_opts: SourceOptions,
    *,
    debug: bool = False,
    workers: int = 1,
) -> None:
    """Entry point of one stage process: a stage error is one line, never a traceback
    (unless `stockpipe --debug run`), and the status view shows it as the last warning."""
    import sys

    try:
        _stage(stage, overrides, config_file, source_opts, workers)
    except Exception as exc:  # noqa: BLE001 - the one-line promise holds in stages too
        if debug:
            raise
        message, code = error_line(exc)
        print(f"error: {stage}: {message}", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            settings = configure(overrides, config_file)
            runstate.write_state(
                settings.state_dir, runstate.WARNING, {"stage": stage, "message": message}
            )
        raise SystemExit(code) from None


def watch_parent(stop: threading.Event) -> None:
    """Stop when `stockpipe run` itself dies (SIGKILL): no orphan keeps writing."""
    parent = os.getppid()
    while not stop.wait(1.0):
        if os.getppid() != parent:
            stop.set()


def _stage(
    stage: str,
    overrides: dict[str, Any],
    config_file: str | None,
    source_opts: SourceOptions,
    workers: int = 1,
) -> None:
    settings = configure(overrides, config_file)
    # Warnings go to the status view (warning.json), not across the terminal's live panel.
    logging.basicConfig(
        level=logging.WARNING, handlers=[runstate.WarningFile(settings.state_dir, stage)]
    )
    # SIGTERM only: the stage starts with SIGINT ignored (Ctrl-C is the parent's to handle).
    with StopSignals((signal.SIGTERM,)) as stop, open_stage(settings, stage) as backends:
        threading.Thread(target=watch_parent, args=(stop,), daemon=True).start()
        stream, lake, put = backends.stream, backends.lake, backends.metric
        if stage == "ingest":
            _ingest(settings, stream, lake, source_opts, stop, put)
        elif stage == "archive":
            stages.run_archive(stream, lake, follow=True, stop=stop, metric=put)
        elif stage == "process" and workers > 1:
            from stockpipe.pipeline.workers import run_workers

            run_workers(settings, workers, follow=True, stop=stop)
        elif stage == "process":
            stages.run_process(
                stream,
                lake,
                follow=True,
                stop=stop,
                metric=put,
                indicator_sessions=settings.indicator_sessions,
            )


def _ingest(
    settings: Settings,
    stream: Stream,
    lake: Lake,
    source_opts: SourceOptions,
    stop: threading.Event,
    put: MetricFn,
) -> None:
    """The ingest stage: resume after what is held, publish phase and clock each second."""
    from stockpipe.pipeline.resume import MarkedSource, resume_points
    from stockpipe.sources.factory import build_source

    name, symbols = source_opts.source, list(source_opts.symbols)
    held = resume_points(lake, name, symbols) if name == "simulator" else {}
    inner = build_source(source_opts, resume_after=held)

    def publish(src: Any) -> None:
        # Only the simulator knows sessions and a simulated clock; other sources just run.
        progress = src.progress() if hasattr(src, "progress") else {"phase": "ingesting"}
        runstate.write_state(settings.state_dir, runstate.INGEST, {"source": name, **progress})

    source = MarkedSource(inner, lake, publish, start=held)

    def publisher() -> None:
        while not stop.wait(PROGRESS_EVERY):
            with contextlib.suppress(Exception):
                publish(inner)
        # Stop the source from this thread: a live source may be waiting for its next
        # minute, and the ingest loop would only notice `stop` after that batch.
        inner.stop()

    publish(inner)
    threading.Thread(target=publisher, name="stockpipe-progress", daemon=True).start()
    stages.run_ingest(source, stream, stop, put)
    publish(inner)
    stop.wait()  # a finished backfill idles until the pipeline stops


def _start_stages(
    ctx: Any, names: tuple[str, ...], args: tuple[Any, ...], *, debug: bool, workers: int = 1
) -> dict[str, Any]:
    """Spawn each stage in `names` with `args` (overrides, config file, source options)."""
    procs = {
        name: ctx.Process(
            target=stage_main,
            args=(name, *args),
            # Only the process stage has workers; one is stage_main's default.
            kwargs={
                "debug": debug,
                **({"workers": workers} if name == "process" and workers > 1 else {}),
            },
            name=f"stockpipe-{name}",
        )
        for name in names
    }
    # A Ctrl-C pressed during the start stops the run once the handler is back.
    with sigint_ignored():
        for proc in procs.values():
            proc.start()
    return procs


def _stop_stages(procs: dict[str, Any]) -> bool:
    """SIGTERM each stage and wait for its checkpoint; True when a second Ctrl-C cut the
    wait short and the stages still running were killed."""
    for proc in procs.values():
        if proc.is_alive() and proc.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    try:
        for proc in procs.values():
            proc.join(timeout=max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    except KeyboardInterrupt:
        # A second Ctrl-C while the stages save their checkpoints: do not wait for them
        # (a killed stage resumes from its last checkpoint).
        for proc in procs.values():
            if proc.is_alive():
                proc.kill()
        return True
    return False


def run_pipeline(
    settings: Settings,
    overrides: dict[str, Any],
    config_file: str | None,
    source_opts: SourceOptions,
    *,
    dashboard: bool = True,
    refresh: float = 5.0,
    duration: float | None = None,
    process: bool = True,
    debug: bool = False,
    workers: int | None = None,
) -> None:
    """`workers`: the process stage's workers (None: the lake's, or pipeline/workers.py
    `default_workers` for a new lake)."""
    _check_lake(settings.lake_location)
    # Without `process` another processor (the Glue job) owns processed-data/.
    names = STAGES if process else tuple(n for n in STAGES if n != "process")
    lock = HomeLock(settings.home).acquire(command="run")
    try:
        with StopSignals() as stop:
            _run_locked(
                stop,
                settings,
                overrides,
                config_file,
                source_opts,
                names,
                dashboard=dashboard,
                refresh=refresh,
                duration=duration,
                debug=debug,
                workers=workers,
            )
    finally:
        lock.release()


def _check_lake(location: str) -> None:
    """A local lake must be a folder: say so before any stage starts."""
    if "://" in location:
        return
    path = Path(location)
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"the lake {location} is a file, not a folder: set STOCKPIPE_LAKE to a folder "
            "(or s3://bucket/prefix), or move the file away"
        )


def _run_locked(
    stop: threading.Event,
    settings: Settings,
    overrides: dict[str, Any],
    config_file: str | None,
    source_opts: SourceOptions,
    names: tuple[str, ...],
    *,
    dashboard: bool,
    refresh: float,
    duration: float | None,
    debug: bool,
    workers: int | None = None,
) -> None:
    from stockpipe.pipeline.workers import pick_workers

    handle = None
    url = None
    if dashboard:
        from stockpipe.dashboard import start_dashboard

        # Bound before any stage starts: a busy port stops the run here, with one line.
        handle = start_dashboard(
            settings, settings.dashboard_host, settings.dashboard_port, refresh
        )
        url = handle.url
    # A previous run's progress and warning would be shown as this run's.
    for name in (runstate.INGEST, runstate.WARNING):
        runstate.clear_state(settings.state_dir, name)
    # Creates the stream before the stages race to do it.
    stream, lake = open_stream(settings), open_lake(settings.lake_location)
    count = pick_workers(lake, stream, workers) if "process" in names else 1
    procs: dict[str, Any] = {}
    failed: list[str] = []
    try:
        procs = _start_stages(
            mp.get_context("spawn"),
            names,
            (overrides, config_file, source_opts),
            debug=debug,
            workers=count,
        )
        _write_run(settings, url, procs, None)
        if url:
            console.print(f"dashboard: [bold]{url}[/bold]")
        console.print(f"lake: {lake.root}   stream: {settings.stream}   (Ctrl-C stops cleanly)")
        failed = _live_view(settings, stream, lake, procs, stop, duration)
    finally:
        killed = _stop_stages(procs)
        if handle is not None:
            handle.stop()
        result = "failed: " + "; ".join(failed) if failed else "stopped cleanly"
        if killed:
            result = "stopped by a second Ctrl-C: stages killed (they resume from checkpoints)"
        _write_run(settings, url, procs, result)
        _final_frame(settings, stream, lake, result)
        stream.close()
    if killed:
        raise KeyboardInterrupt(result)  # the CLI exits 130, as for any interrupted command
    if failed:
        raise StageFailed(
            f"stage {'; '.join(failed)}; the other stages were stopped with their "
            "checkpoints saved. See the stage's error line above, fix it and run again"
        )
    console.print("stopped: checkpoints saved")


def _write_run(
    settings: Settings, url: str | None, procs: dict[str, Any], result: str | None
) -> None:
    runstate.write_state(
        settings.state_dir,
        runstate.RUN,
        {
            "pid": os.getpid(),
            "url": url,
            "stages": {
                n: {"pid": p.pid, "state": describe_exit(p.exitcode)} for n, p in procs.items()
            },
            "result": result,
        },
    )


def _failures(procs: dict[str, Any]) -> list[str]:
    return [
        f"{name} {describe_exit(p.exitcode)}"
        for name, p in procs.items()
        if p.exitcode not in (None, 0)
    ]


def _live_view(
    settings: Settings,
    stream: Stream,
    lake: Lake,
    procs: dict[str, Any],
    stop: threading.Event,
    duration: float | None,
) -> list[str]:
    from stockpipe.pipeline.panel import render_panel
    from stockpipe.pipeline.status import StatusReader

    reader = StatusReader(settings, stream, lake)
    started = time.monotonic()
    with Live(console=console, refresh_per_second=1, transient=True) as live:
        while not stop.is_set():
            live.update(render_panel(_read(reader, url=None)))
            if duration is not None and time.monotonic() - started >= duration:
                return []
            failed = _failures(procs)
            if failed:
                # A stage that died (bad key, lake unreachable, killed) stops the pipeline.
                return failed
            if not any(p.is_alive() for p in procs.values()):
                return []
            stop.wait(1.0)
    return []


def _read(reader: Any, url: str | None) -> dict[str, Any]:
    """A status reading; if the status cannot be read, a panel that says why (the run
    itself goes on: a status view must never be what stops a pipeline)."""
    try:
        report: dict[str, Any] = reader.read()
    except Exception as exc:  # noqa: BLE001
        message = f"cannot read the status: {type(exc).__name__}: {exc}"
        report = {"running": True, "pid": os.getpid(), "url": url}
        report["warning"] = {"stage": "status", "message": message}
    return report


def _final_frame(settings: Settings, stream: Any, lake: Any, result: str) -> None:
    """The frame left on screen after the run: it says stopped, never "alive"."""
    from stockpipe.pipeline.panel import render_panel
    from stockpipe.pipeline.status import StatusReader

    report = _read(StatusReader(settings, stream, lake), None)
    console.print(render_panel(report, stopped=result))
