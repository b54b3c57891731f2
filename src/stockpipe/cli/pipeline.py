"""`stockpipe ingest | archive | process | status | run`."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any

import typer
from rich.console import Console

from stockpipe.cli.common import open_lake_from, open_stream, settings_from
from stockpipe.cli.source_options import (
    SourceArgs,
    parse_start,
    to_source_options,
    with_source_options,
)
from stockpipe.config import Settings, env_help
from stockpipe.pipeline import stages
from stockpipe.pipeline.status import COUNTERS
from stockpipe.sources.factory import build_source
from stockpipe.sources.options import SimulatorOptions

console = Console()


def _stop_on_signals() -> threading.Event:
    """SIGINT/SIGTERM finish the batch in hand, checkpoint, and exit cleanly."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def metric_fn(settings: Settings, stage: str):  # type: ignore[no-untyped-def]
    """A metric callback for a stage, on the configured metrics backend."""
    from stockpipe.metrics import get_metrics, stream_dimension
    from stockpipe.metrics.stage import StageMetrics

    metrics = get_metrics(settings)
    # Flushes at each checkpoint and while idle, not only when the stage exits.
    return metrics, StageMetrics(metrics, stage, stream_dimension(settings))


@with_source_options
def ingest(
    ctx: typer.Context,
    days: int = typer.Option(SimulatorOptions.days, "--days", help="Sessions to backfill"),
    start: str = typer.Option(
        None,
        "--start",
        help="First session (YYYY-MM-DD); default: the N most recent completed sessions",
    ),
    live: bool = typer.Option(False, "--live", help="Keep producing after the backfill"),
    speed: float = typer.Option(
        1.0, "--speed", help="Live speed: 1 = real time, 60 = a simulated minute per second"
    ),
    fault_rate: float = typer.Option(
        0.0,
        "--fault-rate",
        help="Simulator: share of bars given a fault (duplicates, out-of-order, malformed)",
    ),
    *,
    source_args: SourceArgs,
) -> None:
    """Market data -> stream."""
    settings = settings_from(ctx)
    options = to_source_options(
        settings,
        source_args,
        days=days,
        start=parse_start(start),
        live=live,
        speed=speed,
        fault_rate=fault_rate,
    )
    src = build_source(options)
    stream = open_stream(settings)
    metrics, put = metric_fn(settings, "ingest")
    stop = _stop_on_signals()
    try:
        result = stages.run_ingest(src, stream, stop, put)
    finally:
        metrics.flush()
        stream.close()
    rejected = src.stats.extra.get("rejected", 0)
    bars = f"{src.stats.bars} bars"
    if rejected:
        # Bad bars are sent on, to be quarantined by `process` with their file and line.
        bars += f", {rejected} rejected bar{'s' if rejected != 1 else ''} sent to quarantine"
    line = f"ingested {result.records} records ({bars}) from {src.name}"
    faults = src.stats.faults
    if faults is not None:
        line += (
            f"; injected faults: {faults.duplicates} duplicates, "
            f"{faults.out_of_order} out-of-order, {faults.malformed} malformed"
        )
    console.print(line)
    for sym, message in src.stats.symbol_errors.items():
        console.print(f"[red]{sym}[/red]: {message}", highlight=False)
    for note in src.stats.gap_notes:
        console.print(f"[yellow]gap[/yellow]: {note}", highlight=False)


_RESET_HELP = (
    "Forget this consumer's checkpoint and read the stream from its start (after the stream "
    "was created again); the lake is kept, re-read bars count as duplicates"
)


def archive(
    ctx: typer.Context,
    follow: bool = typer.Option(
        False, "--follow", help="Keep consuming; otherwise exit once caught up"
    ),
    reset_checkpoints: bool = typer.Option(False, "--reset-checkpoints", help=_RESET_HELP),
) -> None:
    """Stream -> raw-data/ (every record exactly as received)."""
    settings = settings_from(ctx)
    stream, lake = open_stream(settings), open_lake_from(settings)
    metrics, put = metric_fn(settings, "archive")
    try:
        result = stages.run_archive(
            stream, lake, follow, _stop_on_signals(), put, reset=reset_checkpoints
        )
    finally:
        metrics.flush()
        stream.close()
    console.print(f"archived {result.records} records to {lake.uri('raw-data')}")


def process(
    ctx: typer.Context,
    follow: bool = typer.Option(
        False, "--follow", help="Keep consuming; otherwise exit once caught up"
    ),
    reset_checkpoints: bool = typer.Option(False, "--reset-checkpoints", help=_RESET_HELP),
) -> None:
    """Stream -> processed-data/ (bars, daily) and quarantine/."""
    settings = settings_from(ctx)
    stream, lake = open_stream(settings), open_lake_from(settings)
    metrics, put = metric_fn(settings, "process")
    try:
        result = stages.run_process(
            stream,
            lake,
            follow,
            _stop_on_signals(),
            put,
            reset=reset_checkpoints,
            indicator_sessions=settings.indicator_sessions,
        )
    finally:
        metrics.flush()
        stream.close()
    console.print(process_summary(result.records, result.run, result.extra))


def process_summary(records: int, run: dict[str, Any], totals: dict[str, Any]) -> str:
    """This run's figures (read = kept + duplicates + quarantined), then the totals apart."""
    reasons = ", ".join(f"{k} {v}" for k, v in run.get("reasons", {}).items())
    line = (
        f"processed {records} records this run: read {run.get('read', 0)} = "
        f"kept {run.get('kept', 0)} + duplicates {run.get('duplicates', 0)} + "
        f"quarantined {run.get('quarantined', 0)}"
    )
    if reasons:
        line += f" ({reasons})"
    return line + "; since the first run: " + ", ".join(f"{k} {totals.get(k, 0)}" for k in COUNTERS)


RATE_WINDOW = 1.0  # seconds between the two readings `status` takes of a running pipeline


def _open_for_status(settings: Settings):  # type: ignore[no-untyped-def]
    """The stream and lake to report on, creating nothing: `status` on an empty home
    leaves it empty (no stream database, no folders)."""
    stream = None
    if settings.stream != "local" or settings.stream_path.is_file():
        stream = open_stream(settings)
    return stream, open_lake_from(settings)


def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(
        False, "--json", help="Machine-readable output (with the shard checkpoints)"
    ),
) -> None:
    """Phase, clock, per-stage rate and lag, counters, last bar (checkpoints with --json)."""
    from stockpipe.pipeline.panel import render_panel
    from stockpipe.pipeline.status import StatusReader, status_json

    settings = settings_from(ctx)
    stream, lake = _open_for_status(settings)
    try:
        reader = StatusReader(settings, stream, lake)
        report = reader.read()
        if report["running"]:
            # Rates need two readings: a second later, so a running pipeline shows them.
            time.sleep(RATE_WINDOW)
            report = reader.read()
    finally:
        if stream is not None:
            stream.close()
    if as_json:
        console.print_json(json.dumps(status_json(report), default=str))
        return
    Console(width=80).print(render_panel(report))


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("archive")(archive)
    app.command("process")(process)
    app.command("status")(status)
    _register_run(app)


@with_source_options
def run(
    ctx: typer.Context,
    days: int = typer.Option(
        SimulatorOptions.days, "--days", help="Sessions to backfill before going live"
    ),
    speed: float = typer.Option(
        60.0, "--speed", help="Live speed (60 = a simulated minute per second)"
    ),
    live: bool = typer.Option(True, "--live/--no-live", help="Continue live after the backfill"),
    fault_rate: float = typer.Option(0.0, "--fault-rate", help="Simulator fault rate"),
    dashboard: bool = typer.Option(
        True, "--dashboard/--no-dashboard", help="Serve the live dashboard"
    ),
    process_stage: bool = typer.Option(
        True,
        "--process/--no-process",
        help="Run the local process stage; --no-process when the Glue job processes the "
        "stream (a lake has one processor)",
    ),
    host: str = typer.Option(
        None, "--host", help=f"Dashboard bind address {env_help('dashboard_host')}"
    ),
    port: int = typer.Option(None, "--port", help=f"Dashboard port {env_help('dashboard_port')}"),
    refresh: float = typer.Option(5.0, "--refresh", help="Dashboard refresh, seconds"),
    duration: float = typer.Option(
        None, "--duration", help="Stop after this many seconds (default: until Ctrl-C)"
    ),
    *,
    source_args: SourceArgs,
) -> None:
    """Start every stage (ingest, archive, process, dashboard) with a live status view."""
    from stockpipe.pipeline.runner import run_pipeline

    overrides = {"dashboard_host": host, "dashboard_port": port}
    settings = settings_from(ctx, **overrides)
    options = to_source_options(
        settings, source_args, days=days, live=live, speed=speed, fault_rate=fault_rate
    )
    # Build the source here, so a bad argument fails before anything starts.
    build_source(options)
    root = ctx.find_root().obj or {}
    run_pipeline(
        settings,
        {k: v for k, v in overrides.items() if v is not None},
        root.get("config"),
        options,
        dashboard=dashboard,
        refresh=refresh,
        duration=duration,
        process=process_stage,
        debug=bool(root.get("debug")),
    )


def _register_run(app: typer.Typer) -> None:
    app.command("run")(run)
