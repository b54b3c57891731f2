"""`stockpipe ingest | archive | process | status | run`."""

from __future__ import annotations

import json
import time

import typer
from rich.console import Console

from stockpipe.cli.common import open_lake_from, settings_from
from stockpipe.cli.source_options import (
    SourceArgs,
    parse_start,
    to_source_options,
    with_source_options,
)
from stockpipe.config import env_help
from stockpipe.pipeline import stages
from stockpipe.pipeline.backends import open_stage
from stockpipe.pipeline.signals import StopSignals
from stockpipe.pipeline.status import process_summary
from stockpipe.sources.factory import build_source
from stockpipe.sources.options import SimulatorOptions
from stockpipe.stream import open_existing_stream
from stockpipe.stream.slices import check_workers

console = Console()


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
    with StopSignals() as stop, open_stage(settings, "ingest") as backends:
        result = stages.run_ingest(src, backends.stream, stop, backends.metric)
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
    with StopSignals() as stop, open_stage(settings, "archive") as backends:
        result = stages.run_archive(
            backends.stream,
            backends.lake,
            follow=follow,
            stop=stop,
            metric=backends.metric,
            reset=reset_checkpoints,
        )
    console.print(f"archived {result.records} records to {backends.lake.uri('raw-data')}")


def process(
    ctx: typer.Context,
    follow: bool = typer.Option(
        False, "--follow", help="Keep consuming; otherwise exit once caught up"
    ),
    reset_checkpoints: bool = typer.Option(False, "--reset-checkpoints", help=_RESET_HELP),
    workers: int = typer.Option(
        None,
        "--workers",
        help="Worker processes, each owning a slice of the symbols (default: the number "
        "the lake was first processed with, 1 for a new lake; change it with "
        "`reprocess --workers`)",
    ),
) -> None:
    """Stream -> processed-data/ (bars, daily) and quarantine/."""
    settings = settings_from(ctx)
    from stockpipe.pipeline.workers import default_workers, process_stage, run_workers

    if workers is None:
        # The lake's own number: after a `make run` that chose 2 workers, a plain
        # `stockpipe process` continues with 2, not a refusal; 1 for a new lake.
        workers = default_workers(open_lake_from(settings), lambda: 1)
    check_workers(workers)

    with StopSignals() as stop:
        if workers == 1:
            result = process_stage(settings, stop, follow=follow, reset=reset_checkpoints)
            console.print(process_summary(result.records, result.run, result.extra))
            return
        debug = bool((ctx.find_root().obj or {}).get("debug"))
        summed = run_workers(
            settings, workers, follow=follow, reset=reset_checkpoints, stop=stop, debug=debug
        )
    console.print(process_summary(summed.records, summed.run, summed.extra))


RATE_WINDOW = 1.0  # seconds between the two readings `status` takes of a running pipeline


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
    # Creating nothing: `status` on an empty home leaves it empty (no database, no folders).
    stream, lake = open_existing_stream(settings), open_lake_from(settings)
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
    workers: int = typer.Option(
        None,
        "--workers",
        help="Process stage workers (default: the lake's number, or for a new lake "
        "min(CPU cores, open shards, 4))",
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
    if workers is not None:
        check_workers(workers)
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
        workers=workers,
    )


def _register_run(app: typer.Typer) -> None:
    app.command("run")(run)
