"""`stockpipe ingest | archive | process | status | run`."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

import typer
from rich.console import Console

from stockpipe.cli.common import open_lake_from, settings_from
from stockpipe.config import Settings, env_help
from stockpipe.errors import ConfigError
from stockpipe.pipeline import stages
from stockpipe.pipeline.backends import open_stage
from stockpipe.pipeline.signals import StopSignals
from stockpipe.pipeline.status import process_summary
from stockpipe.sources.factory import build_source
from stockpipe.stream import open_existing_stream

console = Console()


def _parse_start(start: str | None) -> date | None:
    if start is None:
        return None
    try:
        return date.fromisoformat(start)
    except ValueError:
        raise ConfigError(f"--start {start!r} is not a date: use YYYY-MM-DD") from None


def _symbols(settings: Settings, symbols: str | None) -> list[str]:
    if symbols is None:
        return list(settings.symbols)
    out = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    if not out:
        raise ConfigError("--symbols is empty: give a comma-separated list such as AAPL,MSFT")
    return out


def _source_opts(**opts: Any) -> dict[str, Any]:
    """Alpha Vantage and replay options, passed through to build_source."""
    files = opts.pop("files", None)
    if files:
        opts["files"] = list(files)
    opts["symbol"] = opts["symbol"].strip().upper() if opts.get("symbol") else None
    return opts


def _stream_opts(
    channel: str | None, feed: str | None, lateness: float, stall_timeout: float
) -> dict[str, Any]:
    """Alpaca/Finnhub websocket options, passed through to build_source."""
    return {"channel": channel, "feed": feed, "lateness": lateness, "stall_timeout": stall_timeout}


_SOURCE_HELP = "simulator | alphavantage | replay | alpaca | finnhub"
_FILES_HELP = "Replay: saved Alpha Vantage responses (JSON, or CSV with --symbol)"
_CHANNEL_HELP = "Alpaca/Finnhub: trades (aggregated to 1min bars) or bars (Alpaca's own)"
_LATENESS_HELP = "Alpaca/Finnhub trades: seconds a trade may arrive late before its bar closes"
_STALL_HELP = "Alpaca/Finnhub: seconds without a message before the connection is reopened"
_INTERVAL_HELP = "Alpha Vantage/replay bar interval: 1min 5min 15min 30min 60min"


def ingest(
    ctx: typer.Context,
    source: str = typer.Option("simulator", "--source", help=_SOURCE_HELP),
    symbols: str = typer.Option(
        None, "--symbols", help=f"Comma-separated symbols {env_help('symbols')}"
    ),
    days: int = typer.Option(5, "--days", help="Sessions to backfill"),
    start: str = typer.Option(
        None,
        "--start",
        help="First session (YYYY-MM-DD); default: the N most recent completed sessions",
    ),
    seed: int = typer.Option(0, "--seed", help="Simulator seed"),
    live: bool = typer.Option(False, "--live", help="Keep producing after the backfill"),
    speed: float = typer.Option(
        1.0, "--speed", help="Live speed: 1 = real time, 60 = a simulated minute per second"
    ),
    fault_rate: float = typer.Option(
        0.0,
        "--fault-rate",
        help="Simulator: share of bars given a fault (duplicates, out-of-order, malformed)",
    ),
    interval: str = typer.Option(None, "--interval", help=_INTERVAL_HELP + " (default 5min)"),
    poll: float = typer.Option(300.0, "--poll", help="Alpha Vantage: seconds between polls"),
    once: bool = typer.Option(False, "--once", help="Alpha Vantage: fetch once and exit"),
    month: str = typer.Option(None, "--month", help="Alpha Vantage: backfill one month, YYYY-MM"),
    requests_per_day: int = typer.Option(
        25, "--requests-per-day", help="Alpha Vantage request budget per 24 h (0 = no limit)"
    ),
    min_spacing: float = typer.Option(
        1.2, "--min-spacing", help="Alpha Vantage: minimum seconds between requests"
    ),
    symbol: str = typer.Option(None, "--symbol", help="Replay: the symbol of CSV files"),
    outputsize: str = typer.Option(
        None, "--outputsize", help="Alpha Vantage: compact (100 bars) or full"
    ),
    adjusted: bool = typer.Option(True, "--adjusted/--no-adjusted", help="Alpha Vantage"),
    extended_hours: bool = typer.Option(
        True, "--extended-hours/--no-extended-hours", help="Alpha Vantage: 04:00-20:00 ET"
    ),
    datatype: str = typer.Option("json", "--datatype", help="Alpha Vantage: json or csv"),
    channel: str = typer.Option(None, "--channel", help=_CHANNEL_HELP),
    feed: str = typer.Option(None, "--feed", help="Alpaca: iex (free) | sip | delayed_sip | test"),
    lateness: float = typer.Option(2.0, "--lateness", help=_LATENESS_HELP),
    stall_timeout: float = typer.Option(90.0, "--stall-timeout", help=_STALL_HELP),
    files: list[str] = typer.Argument(None, help=_FILES_HELP, show_default=False),
) -> None:
    """Market data -> stream."""
    settings = settings_from(ctx)
    src = build_source(
        source,
        _symbols(settings, symbols),
        days=days,
        start=_parse_start(start),
        seed=seed,
        live=live,
        speed=speed,
        fault_rate=fault_rate,
        **_source_opts(
            interval=interval,
            poll=poll,
            once=once,
            month=month,
            requests_per_day=requests_per_day,
            min_spacing=min_spacing,
            symbol=symbol,
            outputsize=outputsize,
            adjusted=adjusted,
            extended_hours=extended_hours,
            datatype=datatype,
            files=files,
            **_stream_opts(channel, feed, lateness, stall_timeout),
        ),
    )
    with StopSignals() as stop, open_stage(settings, "ingest") as backends:
        result = stages.run_ingest(src, backends.stream, stop, backends.metric)
    rejected = src.stats.extra.get("rejected", 0)
    bars = f"{src.stats.bars} bars"
    if rejected:
        # Bad bars are sent on, to be quarantined by `process` with their file and line.
        bars += f", {rejected} rejected bar{'s' if rejected != 1 else ''} sent to quarantine"
    line = f"ingested {result.records} records ({bars}) from {src.name}"
    faults = getattr(src, "faults", None)
    rate: float = getattr(src, "fault_rate", 0.0)
    if faults is not None and rate > 0:
        line += (
            f"; injected faults: {faults.duplicates} duplicates, "
            f"{faults.out_of_order} out-of-order, {faults.malformed} malformed"
        )
    console.print(line)
    for sym, message in getattr(src, "symbol_errors", {}).items():
        console.print(f"[red]{sym}[/red]: {message}", highlight=False)
    for note in getattr(src, "gap_notes", []):
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
            backends.stream, backends.lake, follow, stop, backends.metric, reset=reset_checkpoints
        )
    console.print(f"archived {result.records} records to {backends.lake.uri('raw-data')}")


def process(
    ctx: typer.Context,
    follow: bool = typer.Option(
        False, "--follow", help="Keep consuming; otherwise exit once caught up"
    ),
    reset_checkpoints: bool = typer.Option(False, "--reset-checkpoints", help=_RESET_HELP),
) -> None:
    """Stream -> processed-data/ (bars, daily) and quarantine/."""
    settings = settings_from(ctx)
    with StopSignals() as stop, open_stage(settings, "process") as backends:
        result = stages.run_process(
            backends.stream,
            backends.lake,
            follow,
            stop,
            backends.metric,
            reset=reset_checkpoints,
            indicator_sessions=settings.indicator_sessions,
        )
    console.print(process_summary(result.records, result.run, result.extra))


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


def run(
    ctx: typer.Context,
    source: str = typer.Option("simulator", "--source", help=_SOURCE_HELP),
    symbols: str = typer.Option(
        None, "--symbols", help=f"Comma-separated symbols {env_help('symbols')}"
    ),
    days: int = typer.Option(5, "--days", help="Sessions to backfill before going live"),
    seed: int = typer.Option(0, "--seed", help="Simulator seed"),
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
    interval: str = typer.Option(None, "--interval", help=_INTERVAL_HELP + " (default 5min)"),
    poll: float = typer.Option(300.0, "--poll", help="Alpha Vantage: seconds between polls"),
    once: bool = typer.Option(False, "--once", help="Alpha Vantage: fetch once and exit"),
    month: str = typer.Option(None, "--month", help="Alpha Vantage: backfill one month, YYYY-MM"),
    requests_per_day: int = typer.Option(
        25, "--requests-per-day", help="Alpha Vantage request budget per 24 h (0 = no limit)"
    ),
    min_spacing: float = typer.Option(
        1.2, "--min-spacing", help="Alpha Vantage: minimum seconds between requests"
    ),
    symbol: str = typer.Option(None, "--symbol", help="Replay: the symbol of CSV files"),
    outputsize: str = typer.Option(
        None, "--outputsize", help="Alpha Vantage: compact (100 bars) or full"
    ),
    adjusted: bool = typer.Option(True, "--adjusted/--no-adjusted", help="Alpha Vantage"),
    extended_hours: bool = typer.Option(
        True, "--extended-hours/--no-extended-hours", help="Alpha Vantage: 04:00-20:00 ET"
    ),
    datatype: str = typer.Option("json", "--datatype", help="Alpha Vantage: json or csv"),
    channel: str = typer.Option(None, "--channel", help=_CHANNEL_HELP),
    feed: str = typer.Option(None, "--feed", help="Alpaca: iex (free) | sip | delayed_sip | test"),
    lateness: float = typer.Option(2.0, "--lateness", help=_LATENESS_HELP),
    stall_timeout: float = typer.Option(90.0, "--stall-timeout", help=_STALL_HELP),
    files: list[str] = typer.Argument(None, help=_FILES_HELP, show_default=False),
) -> None:
    """Start every stage (ingest, archive, process, dashboard) with a live status view."""
    from stockpipe.pipeline.runner import run_pipeline

    overrides = {"dashboard_host": host, "dashboard_port": port}
    settings = settings_from(ctx, **overrides)
    syms = _symbols(settings, symbols)
    # Validate the source options here, so a bad argument fails before anything starts.
    av_opts = _source_opts(
        interval=interval,
        poll=poll,
        once=once,
        month=month,
        requests_per_day=requests_per_day,
        min_spacing=min_spacing,
        symbol=symbol,
        outputsize=outputsize,
        adjusted=adjusted,
        extended_hours=extended_hours,
        datatype=datatype,
        files=files,
        **_stream_opts(channel, feed, lateness, stall_timeout),
    )
    build_source(
        source,
        syms,
        days=days,
        seed=seed,
        live=live,
        speed=speed,
        fault_rate=fault_rate,
        **av_opts,
    )
    source_opts = {
        **av_opts,
        "source": source,
        "symbols": syms,
        "days": days,
        "seed": seed,
        "live": live,
        "speed": speed,
        "fault_rate": fault_rate,
    }
    root = ctx.find_root().obj or {}
    run_pipeline(
        settings,
        {k: v for k, v in overrides.items() if v is not None},
        root.get("config"),
        source_opts,
        dashboard=dashboard,
        refresh=refresh,
        duration=duration,
        process=process_stage,
        debug=bool(root.get("debug")),
    )


def _register_run(app: typer.Typer) -> None:
    app.command("run")(run)
