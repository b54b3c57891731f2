"""Typed source options: each default is declared here once.

The CLI (`ingest`, `run`), `stockpipe run`'s ingest stage and the tests all build sources
from these objects through `stockpipe.sources.factory.build_source`. They are frozen and
picklable, so `run` hands them to its stage processes as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

SOURCES = ("simulator", "alphavantage", "replay", "alpaca", "finnhub")


@dataclass(frozen=True)
class SimulatorOptions:
    days: int = 5
    start: date | None = None
    seed: int = 0
    live: bool = False
    speed: float = 1.0
    fault_rate: float = 0.0


@dataclass(frozen=True)
class AlphaVantageOptions:
    interval: str = "5min"
    poll: float = 300.0
    once: bool = False
    month: str | None = None
    requests_per_day: int = 25
    min_spacing: float = 1.2
    # None: `full` for a month backfill, `compact` (the latest 100 bars) for live polls.
    outputsize: str | None = None
    adjusted: bool = True
    extended_hours: bool = True
    datatype: str = "json"


@dataclass(frozen=True)
class ReplayOptions:
    files: tuple[str, ...] = ()
    symbol: str | None = None  # the symbol of CSV files, which do not name it
    interval: str | None = None  # None: inferred from the file


@dataclass(frozen=True)
class WebsocketOptions:
    channel: str = "trades"
    feed: str = "iex"  # Alpaca only
    lateness: float = 2.0
    stall_timeout: float = 90.0


@dataclass(frozen=True)
class SourceOptions:
    """Which source, for which symbols, and the options of every kind (only one is used)."""

    source: str = "simulator"
    symbols: tuple[str, ...] = ()
    simulator: SimulatorOptions = field(default_factory=SimulatorOptions)
    alphavantage: AlphaVantageOptions = field(default_factory=AlphaVantageOptions)
    replay: ReplayOptions = field(default_factory=ReplayOptions)
    websocket: WebsocketOptions = field(default_factory=WebsocketOptions)
