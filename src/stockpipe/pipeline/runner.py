"""`stockpipe run`: every stage as a cooperating process, plus a live status view.

Stages run in separate processes (spawned, not forked) that share nothing but the
stream and the lake, exactly as they would on separate machines. Ctrl-C reaches every
process; each finishes its batch, saves its checkpoint, and exits.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
import time
from typing import Any

from rich.console import Console
from rich.live import Live

from stockpipe.config import Settings, configure
from stockpipe.pipeline import stages

console = Console()


def _open(settings: Settings):  # type: ignore[no-untyped-def]
    from stockpipe.cli.common import open_lake_from, open_stream

    return open_stream(settings), open_lake_from(settings)


def stage_main(
    stage: str,
    overrides: dict[str, Any],
    config_file: str | None,
    source_opts: dict[str, Any],
) -> None:
    """Entry point of one stage process: a stage error is one line, never a traceback."""
    import sys

    from stockpipe.errors import StockpipeError

    try:
        _stage(stage, overrides, config_file, source_opts)
    except StockpipeError as exc:
        print(f"error: {stage}: {exc}".replace("\n", " "), file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code) from None


def _stage(
    stage: str,
    overrides: dict[str, Any],
    config_file: str | None,
    source_opts: dict[str, Any],
) -> None:
    import logging

    from stockpipe.cli.pipeline import metric_fn
    from stockpipe.sources.factory import build_source

    logging.basicConfig(level=logging.WARNING)
    settings = configure(overrides, config_file)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stream, lake = _open(settings)
    metrics, put = metric_fn(settings, stage)
    try:
        if stage == "ingest":
            opts = dict(source_opts)
            source = build_source(opts.pop("source"), opts.pop("symbols"), **opts)
            stages.run_ingest(source, stream, stop, put)
            stop.wait()  # a finished backfill idles until the pipeline stops
        elif stage == "archive":
            stages.run_archive(stream, lake, True, stop, put)
        elif stage == "process":
            stages.run_process(
                stream, lake, True, stop, put, indicator_sessions=settings.indicator_sessions
            )
    finally:
        metrics.flush()
        stream.close()


def run_pipeline(
    settings: Settings,
    overrides: dict[str, Any],
    config_file: str | None,
    source_opts: dict[str, Any],
    dashboard: bool = True,
    refresh: float = 5.0,
    duration: float | None = None,
    process: bool = True,
) -> None:
    ctx = mp.get_context("spawn")
    # Without `process` another processor (the Glue job) owns processed-data/.
    names = ("ingest", "archive", "process") if process else ("ingest", "archive")
    procs = {
        name: ctx.Process(
            target=stage_main,
            args=(name, overrides, config_file, source_opts),
            name=f"stockpipe-{name}",
        )
        for name in names
    }
    # Create the stream before the stage processes race to do it.
    stream, lake = _open(settings)
    for proc in procs.values():
        proc.start()
    handle = None
    url = None
    if dashboard:
        from stockpipe.dashboard import start_dashboard

        handle = start_dashboard(
            settings, settings.dashboard_host, settings.dashboard_port, refresh
        )
        url = handle.url
        console.print(f"dashboard: [bold]{url}[/bold]")
    console.print(f"lake: {lake.root}   stream: {settings.stream}   (Ctrl-C stops cleanly)")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.monotonic()
    try:
        _live_view(stream, lake, procs, stop, url, started, duration)
    finally:
        for proc in procs.values():
            if proc.is_alive() and proc.pid is not None:
                import os

                os.kill(proc.pid, signal.SIGINT)
        for proc in procs.values():
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
        if handle is not None:
            handle.stop()
        stream.close()
    console.print("stopped: checkpoints saved")


def _live_view(stream, lake, procs, stop, url, started, duration) -> None:  # type: ignore[no-untyped-def]
    from stockpipe.cli.pipeline import render_status
    from stockpipe.pipeline.status import pipeline_status

    last_total = None
    last_t = time.monotonic()
    with Live(console=console, refresh_per_second=1, transient=False) as live:
        while not stop.is_set():
            st = pipeline_status(stream, lake)
            total = sum(stream.pending(s.shard_id, None) or 0 for s in stream.list_shards())
            now = time.monotonic()
            rate = 0.0 if last_total is None else (total - last_total) / max(now - last_t, 1e-6)
            last_total, last_t = total, now
            extra = {
                "records in stream": str(total),
                "produced / s": f"{max(rate, 0):.0f}",
                "stages alive": ", ".join(n for n, p in procs.items() if p.is_alive()) or "none",
            }
            if url:
                extra["dashboard"] = url
            live.update(render_status(st, extra))
            if duration is not None and now - started >= duration:
                break
            failed = [n for n, p in procs.items() if p.exitcode not in (None, 0)]
            if failed:
                # A stage that died (bad key, lake unreachable) stops the whole pipeline.
                console.print(f"[red]stage failed:[/red] {', '.join(failed)}; stopping")
                break
            if not any(p.is_alive() for p in procs.values()):
                break
            stop.wait(1.0)
