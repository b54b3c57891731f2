"""Build an Alpaca or Finnhub source from settings and CLI options."""

from __future__ import annotations

from typing import Any

from stockpipe.errors import ConfigError
from stockpipe.sources.base import Source
from stockpipe.sources.options import WebsocketOptions


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


def build_websocket_source(name: str, symbols: list[str], opts: WebsocketOptions) -> Source:
    from stockpipe.config import get_settings
    from stockpipe.sources.websocket.source import WebsocketSource

    settings = get_settings()
    channel = opts.channel
    common: dict[str, Any] = {
        "lateness_s": opts.lateness,
        "stall_s": opts.stall_timeout,
        "state_dir": settings.state_dir / "websocket",
    }
    if name == "alpaca":
        from stockpipe.sources.websocket import alpaca

        key_id = _secret(settings.alpaca_api_key_id)
        secret = _secret(settings.alpaca_api_secret_key)
        if not key_id or not secret:
            raise ConfigError(f"--source alpaca needs API keys: {alpaca.KEY_HELP}")
        feed_name = opts.feed
        if feed_name not in alpaca.FEEDS:
            raise ConfigError(
                f"--feed {feed_name!r} is invalid: use one of {', '.join(alpaca.FEEDS)}"
            )
        if channel not in alpaca.CHANNELS:
            raise ConfigError(f"--channel {channel!r} is invalid: use bars or trades")
        if channel == "trades" and feed_name == "iex" and len(symbols) > alpaca.FREE_TRADE_CHANNELS:
            raise ConfigError(
                f"{len(symbols)} symbols on the trades channel: the free IEX plan allows "
                f"{alpaca.FREE_TRADE_CHANNELS}; use --channel bars (unlimited) or fewer symbols"
            )
        url = settings.alpaca_stream_url.replace("{feed}", feed_name)
        feed = alpaca.AlpacaFeed(key_id, secret, url)
        filler = alpaca.AlpacaRest(key_id, secret, settings.alpaca_data_url, feed_name)
        return WebsocketSource(feed, symbols, channel=channel, filler=filler, **common)
    from stockpipe.sources.websocket import finnhub

    token = _secret(settings.finnhub_api_key)
    if not token:
        raise ConfigError(f"--source finnhub needs an API key: {finnhub.KEY_HELP}")
    if channel != "trades":
        raise ConfigError("--channel bars is Alpaca only: Finnhub streams trades")
    if len(symbols) > finnhub.FREE_SYMBOLS:
        raise ConfigError(
            f"{len(symbols)} symbols: Finnhub's free plan streams at most "
            f"{finnhub.FREE_SYMBOLS} on one connection; give fewer with --symbols"
        )
    feed_f = finnhub.FinnhubFeed(token, settings.finnhub_stream_url)
    filler_f = finnhub.FinnhubRest(token, settings.finnhub_api_url)
    return WebsocketSource(feed_f, symbols, channel="trades", filler=filler_f, **common)
