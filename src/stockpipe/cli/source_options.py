"""The source options `ingest` and `run` share, declared once.

`with_source_options` adds them to a command's signature (typer reads the signature) and
hands them to the command as one `SourceArgs`; `to_source_options` turns those, plus the
simulator options whose defaults differ between the commands, into typed `SourceOptions`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from datetime import date
from typing import Any, TypeAlias

import typer

from stockpipe.config import Settings, env_help
from stockpipe.errors import ConfigError
from stockpipe.sources.options import (
    SOURCES,
    AlphaVantageOptions,
    ReplayOptions,
    SimulatorOptions,
    SourceOptions,
    WebsocketOptions,
)

# The shared options as parsed, by parameter name (None: not given, use the default).
SourceArgs: TypeAlias = dict[str, Any]

_AV = "Alpha Vantage"
_INTERVAL = f"{_AV}/replay bar interval: 1min 5min 15min 30min 60min (default 5min)"
_CHANNEL = "Alpaca/Finnhub: trades (aggregated to 1min bars) or bars (Alpaca's own)"
_LATENESS = "Alpaca/Finnhub trades: seconds a trade may arrive late before its bar closes"
_STALL = "Alpaca/Finnhub: seconds without a message before the connection is reopened"
_AV_DEFAULTS = AlphaVantageOptions()
_WS_DEFAULTS = WebsocketOptions()

# (parameter name, type, typer option): the order is the order of `--help`.
_SHARED: tuple[tuple[str, Any, Any], ...] = (
    (
        "source",
        str,
        typer.Option(
            "simulator",
            "--source",
            help=" | ".join(SOURCES),
        ),
    ),
    (
        "symbols",
        str,
        typer.Option(None, "--symbols", help=f"Comma-separated symbols {env_help('symbols')}"),
    ),
    ("seed", int, typer.Option(SimulatorOptions.seed, "--seed", help="Simulator seed")),
    ("interval", str, typer.Option(None, "--interval", help=_INTERVAL)),
    (
        "poll",
        float,
        typer.Option(_AV_DEFAULTS.poll, "--poll", help=f"{_AV}: seconds between polls"),
    ),
    ("once", bool, typer.Option(_AV_DEFAULTS.once, "--once", help=f"{_AV}: fetch once and exit")),
    ("month", str, typer.Option(None, "--month", help=f"{_AV}: backfill one month, YYYY-MM")),
    (
        "requests_per_day",
        int,
        typer.Option(
            _AV_DEFAULTS.requests_per_day,
            "--requests-per-day",
            help=f"{_AV} request budget per 24 h (0 = no limit)",
        ),
    ),
    (
        "min_spacing",
        float,
        typer.Option(
            _AV_DEFAULTS.min_spacing,
            "--min-spacing",
            help=f"{_AV}: minimum seconds between requests",
        ),
    ),
    ("symbol", str, typer.Option(None, "--symbol", help="Replay: the symbol of CSV files")),
    (
        "outputsize",
        str,
        typer.Option(None, "--outputsize", help=f"{_AV}: compact (100 bars) or full"),
    ),
    ("adjusted", bool, typer.Option(_AV_DEFAULTS.adjusted, "--adjusted/--no-adjusted", help=_AV)),
    (
        "extended_hours",
        bool,
        typer.Option(
            _AV_DEFAULTS.extended_hours,
            "--extended-hours/--no-extended-hours",
            help=f"{_AV}: 04:00-20:00 ET",
        ),
    ),
    (
        "datatype",
        str,
        typer.Option(_AV_DEFAULTS.datatype, "--datatype", help=f"{_AV}: json or csv"),
    ),
    ("channel", str, typer.Option(None, "--channel", help=_CHANNEL)),
    (
        "feed",
        str,
        typer.Option(None, "--feed", help="Alpaca: iex (free) | sip | delayed_sip | test"),
    ),
    ("lateness", float, typer.Option(_WS_DEFAULTS.lateness, "--lateness", help=_LATENESS)),
    (
        "stall_timeout",
        float,
        typer.Option(_WS_DEFAULTS.stall_timeout, "--stall-timeout", help=_STALL),
    ),
    (
        "files",
        list[str],
        typer.Argument(
            None,
            help="Replay: saved Alpha Vantage responses (JSON, or CSV with --symbol)",
            show_default=False,
        ),
    ),
)


# Typer passes every parameter by keyword; this kind keeps the signature valid wherever the
# shared options are placed among the command's own.
_KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD


def with_source_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the shared options to `command`, which takes them as `source_args: SourceArgs`."""
    own = inspect.signature(command, eval_str=True)
    kept = [p for name, p in own.parameters.items() if name != "source_args"]
    shared = [
        inspect.Parameter(name, _KEYWORD, default=option, annotation=kind)
        for name, kind, option in _SHARED
    ]
    names = {name for name, _, _ in _SHARED}

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        source_args = {name: kwargs.pop(name) for name in names}
        command(*args, source_args=source_args, **kwargs)

    wrapper.__signature__ = own.replace(parameters=[kept[0], *shared, *kept[1:]])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in (*kept, *shared)}
    del wrapper.__wrapped__  # typer must read the signature above, not the command's
    return wrapper


def parse_start(start: str | None) -> date | None:
    if start is None:
        return None
    try:
        return date.fromisoformat(start)
    except ValueError:
        raise ConfigError(f"--start {start!r} is not a date: use YYYY-MM-DD") from None


def parse_symbols(settings: Settings, symbols: str | None) -> tuple[str, ...]:
    if symbols is None:
        return tuple(settings.symbols)
    out = tuple(s.strip().upper() for s in symbols.split(",") if s.strip())
    if not out:
        raise ConfigError("--symbols is empty: give a comma-separated list such as AAPL,MSFT")
    return out


def _given(**values: Any) -> dict[str, Any]:
    """The options the user gave; the rest keep the defaults their dataclass declares."""
    return {k: v for k, v in values.items() if v is not None}


def to_source_options(
    settings: Settings,
    args: SourceArgs,
    *,
    days: int,
    live: bool,
    speed: float,
    fault_rate: float,
    start: date | None = None,
) -> SourceOptions:
    """The typed options of one command line: the shared `args`, plus the simulator options
    each command declares itself (their defaults and help differ between ingest and run)."""
    simulator = SimulatorOptions(
        days=days, start=start, seed=args["seed"], live=live, speed=speed, fault_rate=fault_rate
    )
    symbol = args["symbol"].strip().upper() if args["symbol"] else None
    return SourceOptions(
        source=args["source"],
        symbols=parse_symbols(settings, args["symbols"]),
        simulator=simulator,
        alphavantage=AlphaVantageOptions(
            **_given(
                interval=args["interval"],
                poll=args["poll"],
                once=args["once"],
                month=args["month"],
                requests_per_day=args["requests_per_day"],
                min_spacing=args["min_spacing"],
                outputsize=args["outputsize"],
                adjusted=args["adjusted"],
                extended_hours=args["extended_hours"],
                datatype=args["datatype"],
            )
        ),
        replay=ReplayOptions(
            files=tuple(args["files"] or ()), symbol=symbol, interval=args["interval"]
        ),
        websocket=WebsocketOptions(
            **_given(
                channel=args["channel"],
                feed=args["feed"],
                lateness=args["lateness"],
                stall_timeout=args["stall_timeout"],
            )
        ),
    )
