"""Build a source from CLI options. Each source checks its own arguments."""

from __future__ import annotations

from datetime import date
from typing import Any

from stockpipe.errors import ConfigError
from stockpipe.sources.base import Source

SOURCES = ("simulator", "alphavantage", "replay", "alpaca", "finnhub")


def simulator_sessions(days: int, start: date | None) -> list[date]:
    # Imported here: the exchange calendar takes a second to load, and most commands
    # never need it.
    from stockpipe import calendar

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
            resume_after=opts.get("resume_after"),
        )
    if name == "alphavantage":
        return _alphavantage(symbols, opts)
    if name == "replay":
        from stockpipe.sources.replay import ReplaySource

        return ReplaySource(opts.get("files") or [], opts.get("symbol"), opts.get("interval"))
    if name in ("alpaca", "finnhub"):
        from stockpipe.sources.websocket.factory import build_websocket_source

        return build_websocket_source(name, symbols, opts)
    raise ConfigError(f"--source {name!r} is unknown; use one of: {', '.join(SOURCES)}")


def _alphavantage(symbols: list[str], opts: dict[str, Any]) -> Source:
    from stockpipe.config import get_settings
    from stockpipe.sources.alphavantage import AlphaVantageSource
    from stockpipe.sources.alphavantage.budget import RequestBudget
    from stockpipe.sources.alphavantage.client import AlphaVantageClient

    settings = get_settings()
    key = settings.alpha_vantage_api_key
    if key is None or not key.get_secret_value():
        raise ConfigError(
            "--source alphavantage needs an API key: set ALPHA_VANTAGE_API_KEY (free at "
            "https://www.alphavantage.co/support/#api-key), or use --source replay/simulator"
        )
    state = settings.state_dir / "alphavantage"
    budget = RequestBudget(
        state / "budget.json",
        per_day=opts.get("requests_per_day", 25),
        min_spacing=opts.get("min_spacing", 1.2),
    )
    client = AlphaVantageClient(
        key.get_secret_value(), budget, base_url=settings.alpha_vantage_base_url
    )
    return AlphaVantageSource(
        client,
        symbols,
        state,
        interval=opts.get("interval") or "5min",
        poll=opts.get("poll", 300.0),
        once=opts.get("once", False),
        month=opts.get("month"),
        outputsize=opts.get("outputsize"),
        adjusted=opts.get("adjusted", True),
        extended_hours=opts.get("extended_hours", True),
        datatype=opts.get("datatype", "json"),
    )
