"""Finnhub: the trades websocket and the REST stock candles.

Protocol, as documented at https://finnhub.io/docs/api/websocket-trades:
- connect to wss://ws.finnhub.io?token=KEY (the key is in the URL: never log the URL);
  a bad key is refused at the HTTP upgrade (401/403);
- send {"type":"subscribe","symbol":"AAPL"} per symbol; there is no acknowledgement;
- trades arrive as {"type":"trade","data":[{"s","p","t","v","c"}]}: symbol, last
  price, UNIX milliseconds, volume, trade conditions. Exchanges that do not stream trades
  send price updates with v = 0;
- {"type":"ping"} is a heartbeat (nothing to answer: it proves the link is alive);
- refusals come as {"type":"error","msg":...} (e.g. too many symbols for the plan).
REST: GET {api}/stock/candle?symbol&resolution=1&from&to&token ->
{"s":"ok"|"no_data","t":[...],"o","h","l","c","v"}; free keys get HTTP 403 ("You don't
have access to this resource"), which the source reports as "cannot fill the gap".
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from stockpipe.contract import SYMBOL_RE
from stockpipe.sources.websocket.base import (
    Event,
    Feed,
    FeedError,
    FeedSubscriptionError,
    GapFiller,
    GapFillUnavailable,
    Heartbeat,
    ProviderBar,
    Recv,
    Rejected,
    Send,
    Subscription,
    Trade,
    redact,
)

DEFAULT_STREAM_URL = "wss://ws.finnhub.io"
DEFAULT_API_URL = "https://finnhub.io/api/v1"
FREE_SYMBOLS = 50  # the free plan's limit on subscribed symbols
KEY_HELP = "set FINNHUB_API_KEY (free at https://finnhub.io/register)"
_LIMIT_WORDS = ("too many", "limit", "exceed")


def with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = (parts.query + "&" if parts.query else "") + urlencode({"token": token})
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))


def parse_trade(doc: object) -> Trade:
    if not isinstance(doc, dict):
        raise ValueError("trade is not a JSON object")
    sym, p, t, v = doc.get("s"), doc.get("p"), doc.get("t"), doc.get("v")
    if not isinstance(sym, str) or not SYMBOL_RE.match(sym):
        raise ValueError(f"symbol {sym!r} is invalid")
    if not isinstance(p, int | float) or isinstance(p, bool) or not math.isfinite(p) or p <= 0:
        raise ValueError(f"price {p!r} is not a positive number")
    if not isinstance(t, int) or isinstance(t, bool) or t <= 0:
        raise ValueError(f"time {t!r} is not UNIX milliseconds")
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
        raise ValueError(f"volume {v!r} is not a non-negative number")
    return Trade(symbol=sym, t_ns=t * 1_000_000, price=Decimal(repr(p)), size=Decimal(repr(v)))


class FinnhubFeed(Feed):
    name = "finnhub"

    def __init__(self, token: str, stream_url: str) -> None:
        self._token = token
        self._base = stream_url
        self.secrets = (token,)

    @property
    def url(self) -> str:
        return with_token(self._base, self._token)

    async def handshake(self, recv: Recv, send: Send, sub: Subscription) -> list[Event]:
        for symbol in sub.symbols:
            await send(json.dumps({"type": "subscribe", "symbol": symbol}))
        return []

    def parse(self, text: str) -> list[Event]:
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return [Rejected("malformed_frame", "frame is not JSON", text)]
        if not isinstance(doc, dict):
            return [Rejected("malformed_frame", "frame is not a JSON object", text)]
        kind = doc.get("type")
        if kind == "ping":
            return [Heartbeat()]
        if kind == "error":
            msg = redact(str(doc.get("msg")), self.secrets)
            if any(w in msg.lower() for w in _LIMIT_WORDS):
                raise FeedSubscriptionError(
                    f"Finnhub refused the subscription: {msg}; the free plan allows "
                    f"{FREE_SYMBOLS} symbols on one connection: subscribe fewer"
                )
            raise FeedError(f"Finnhub error: {msg}; {KEY_HELP}")
        if kind != "trade":
            return [Rejected("unknown_message", f"message type {kind!r} is not handled", text)]
        data = doc.get("data")
        if not isinstance(data, list):
            return [Rejected("malformed_frame", "trade message without a data list", text)]
        out: list[Event] = []
        for item in data:
            try:
                out.append(parse_trade(item))
            except (ValueError, TypeError, InvalidOperation) as exc:
                out.append(Rejected("bad_trade", str(exc)[:200], json.dumps(item)))
        return out


class FinnhubRest(GapFiller):
    """GET /stock/candle, resolution 1, one request per symbol."""

    def __init__(self, token: str, base_url: str) -> None:
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._client: httpx.Client | None = None  # opened on the first gap, if any

    def bars(self, symbols: Sequence[str], first: datetime, last: datetime) -> list[ProviderBar]:
        if self._client is None:
            self._client = httpx.Client(timeout=10.0)
        out: list[ProviderBar] = []
        for symbol in symbols:
            params = {
                "symbol": symbol,
                "resolution": "1",
                "from": str(int(first.timestamp())),
                "to": str(int(last.timestamp()) + 59),
                "token": self._token,
            }
            try:
                resp = self._client.get(f"{self.base_url}/stock/candle", params=params)
            except httpx.HTTPError as exc:
                raise GapFillUnavailable(
                    f"Finnhub stock candles unreachable ({type(exc).__name__})"
                ) from None
            if resp.status_code != 200:
                body = redact(resp.text[:160], (self._token,))
                raise GapFillUnavailable(
                    f"Finnhub stock candles answered HTTP {resp.status_code}: {body} (the "
                    "free plan has no candle access)"
                )
            try:
                out.extend(_candles(symbol, resp.json()))
            except (ValueError, KeyError, TypeError) as exc:
                raise GapFillUnavailable(
                    f"Finnhub stock candles: unexpected response ({exc})"
                ) from None
        return [b for b in out if first <= b.ts <= last]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _candles(symbol: str, doc: Any) -> list[ProviderBar]:
    if doc.get("s") == "no_data":
        return []
    if doc.get("s") != "ok":
        raise ValueError(f"status {doc.get('s')!r}")
    cols = [doc[k] for k in ("t", "o", "h", "l", "c", "v")]
    return [
        ProviderBar(
            symbol=symbol,
            ts=datetime.fromtimestamp(int(t), UTC),
            open=float(o),
            high=float(h),
            low=float(lo),
            close=float(c),
            volume=int(v),
        )
        for t, o, h, lo, c, v in zip(*cols, strict=True)
    ]
