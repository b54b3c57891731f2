"""Build a source from CLI options. Each source checks its own arguments."""

from __future__ import annotations

from datetime import date
from typing import Any

from stockpipe.errors import ConfigError
from stockpipe.sources import calendar
from stockpipe.sources.base import Source

SOURCES = ("simulator", "alphavantage", "replay")


def simulator_sessions(days: int, start: date | None) -> list[date]:
    if days < 1 or days > 2500:
        raise ConfigError(f"--days {days} is out of range: use 1-2500")
    if start is None:
        return calendar.recent_completed_sessions(days)
    return calendar.sessions_from(start, days)


def build_source(name: str, symbols: list[str], **opts: Any) -> Source:
    if name == "simulator":
        from stockpipe.sources.simulator import MarketSimulator

        return MarketSimulator(
            symbols,
            simulator_sessions(opts.get("days", 5), opts.get("start")),
            seed=opts.get("seed", 0),
            live=opts.get("live", False),
            speed=opts.get("speed", 1.0),
            fault_rate=opts.get("fault_rate", 0.0),
        )
    raise ConfigError(f"--source {name!r} is unknown; use one of: {', '.join(SOURCES)}")
