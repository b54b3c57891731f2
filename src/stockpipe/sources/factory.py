"""Build a source from typed options. Each source checks its own arguments."""

from __future__ import annotations

from datetime import date, datetime

from stockpipe.errors import ConfigError
from stockpipe.sources.base import Source
from stockpipe.sources.options import SOURCES, AlphaVantageOptions, SourceOptions

__all__ = ["SOURCES", "build_source", "simulator_sessions"]


def simulator_sessions(days: int, start: date | None) -> list[date]:
    # Imported here: the exchange calendar takes a second to load, and most commands
    # never need it.
    from stockpipe import calendar

    if days < 1 or days > 2500:
        raise ConfigError(f"--days {days} is out of range: use 1-2500")
    if start is None:
        return calendar.recent_completed_sessions(days)
    return calendar.sessions_from(start, days)


def build_source(options: SourceOptions, resume_after: dict[str, datetime] | None = None) -> Source:
    """The source `options.source` names; `resume_after` (simulator) skips bars already held."""
    name, symbols = options.source, list(options.symbols)
    if name == "simulator":
        from stockpipe.sources.simulator import MarketSimulator

        sim = options.simulator
        return MarketSimulator(
            symbols,
            simulator_sessions(sim.days, sim.start),
            seed=sim.seed,
            live=sim.live,
            speed=sim.speed,
            fault_rate=sim.fault_rate,
            resume_after=resume_after,
        )
    if name == "alphavantage":
        return _alphavantage(symbols, options.alphavantage)
    if name == "replay":
        from stockpipe.sources.replay import ReplaySource

        replay = options.replay
        return ReplaySource(list(replay.files), replay.symbol, replay.interval)
    if name in ("alpaca", "finnhub"):
        from stockpipe.sources.websocket.factory import build_websocket_source

        return build_websocket_source(name, symbols, options.websocket)
    raise ConfigError(f"--source {name!r} is unknown; use one of: {', '.join(SOURCES)}")


def _alphavantage(symbols: list[str], opts: AlphaVantageOptions) -> Source:
    from stockpipe.config import get_settings
    from stockpipe.sources.alphavantage import AlphaVantageClient, AlphaVantageSource, RequestBudget

    settings = get_settings()
    key = settings.alpha_vantage_api_key
    if key is None or not key.get_secret_value():
        raise ConfigError(
            "--source alphavantage needs an API key: set ALPHA_VANTAGE_API_KEY (free at "
            "https://www.alphavantage.co/support/#api-key), or use --source replay/simulator"
        )
    state = settings.state_dir / "alphavantage"
    budget = RequestBudget(
        state / "budget.json", per_day=opts.requests_per_day, min_spacing=opts.min_spacing
    )
    client = AlphaVantageClient(
        key.get_secret_value(), budget, base_url=settings.alpha_vantage_base_url
    )
    return AlphaVantageSource(
        client,
        symbols,
        state,
        interval=opts.interval,
        poll=opts.poll,
        once=opts.once,
        month=opts.month,
        outputsize=opts.outputsize,
        adjusted=opts.adjusted,
        extended_hours=opts.extended_hours,
        datatype=opts.datatype,
    )
