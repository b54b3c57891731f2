"""Alpaca Market Data v2: the stock stream (bars, updatedBars, trades) and REST bars.

Protocol, as documented at https://docs.alpaca.markets/docs/streaming-market-data and
https://docs.alpaca.markets/docs/real-time-stock-pricing-data:
- every frame is a JSON array of messages keyed by "T"; control messages (success,
  subscription, error) arrive alone in an array;
- on connect: [{"T":"success","msg":"connected"}]; then the client sends
  {"action":"auth","key":...,"secret":...} and gets [{"T":"success","msg":"authenticated"}];
- {"action":"subscribe","bars":[...],"updatedBars":[...]} (or "trades") is answered by
  [{"T":"subscription","trades":[...],"quotes":[...],"bars":[...],"updatedBars":[...],...}];
- bars {"T":"b"|"u","S","o","h","l","c","v","t","n","vw"}, trades
  {"T":"t","S","i","x","p","s","c","t","z"} (t is RFC 3339 with nanoseconds);
- errors {"T":"error","code":N,"msg":...}: 400 invalid syntax, 401 not authenticated,
  402 auth failed, 403 already authenticated, 404 auth timeout, 405 symbol limit
  exceeded, 406 connection limit exceeded, 407 slow client, 409 insufficient
  subscription, 410 invalid subscribe action, 500 internal error.
REST: GET {data}/v2/stocks/bars?symbols=..&timeframe=1Min&start&end&feed&limit&page_token
with the APCA-API-KEY-ID / APCA-API-SECRET-KEY headers ->
{"bars": {"AAPL": [{"t","o","h","l","c","v","n","vw"}]}, "next_page_token": ...}.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from stockpipe.contract import SYMBOL_RE
from stockpipe.records import format_ts, parse_ts
from stockpipe.sources.websocket.base import (
    Event,
    Feed,
    FeedAuthError,
    FeedDisconnected,
    FeedError,
    FeedLimitError,
    FeedSubscriptionError,
    GapFiller,
    GapFillUnavailable,
    ProviderBar,
    Recv,
    Rejected,
    Send,
    Subscription,
    Trade,
    parse_rfc3339_ns,
    redact,
)

DEFAULT_STREAM_URL = "wss://stream.data.alpaca.markets/v2/{feed}"
DEFAULT_DATA_URL = "https://data.alpaca.markets"
FEEDS = ("iex", "sip", "delayed_sip", "test")
CHANNELS = ("bars", "trades")
FREE_TRADE_CHANNELS = 30  # the free (IEX) plan's limit on trade channels
KEY_HELP = "set ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY (free at https://alpaca.markets)"

_AUTH_CODES = {401, 402, 403, 404}
_SUB_CODES = {400, 405, 409, 410}
_RETRY_CODES = {407, 500}


def error_for(code: object, msg: object, secrets: Sequence[str]) -> Exception:
    """The distinct error for one Alpaca {"T":"error"} message."""
    text = redact(f"Alpaca error {code}: {msg}", secrets)
    if code in _AUTH_CODES:
        return FeedAuthError(f"{text}; the stream did not accept the credentials: {KEY_HELP}")
    if code == 406:
        return FeedLimitError(
            f"{text}; another connection with this key is open (the free plan allows one): "
            "stop it, or wait for it to time out"
        )
    if code == 405:
        return FeedSubscriptionError(
            f"{text}; the free IEX plan allows {FREE_TRADE_CHANNELS} trade channels: "
            "subscribe fewer symbols or use --channel bars (unlimited)"
        )
    if code in _SUB_CODES:
        return FeedSubscriptionError(
            f"{text}; the plan does not include this feed or channel (--feed iex is free)"
        )
    if code in _RETRY_CODES:
        return FeedDisconnected(text)
    return FeedError(f"{text}; see https://docs.alpaca.markets/docs/streaming-market-data")


def _num(doc: dict[str, Any], name: str) -> float:
    value = doc.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} {value!r} is not a finite number")
    return float(value)


def _symbol(doc: dict[str, Any]) -> str:
    sym = doc.get("S")
    if not isinstance(sym, str) or not SYMBOL_RE.match(sym):
        raise ValueError(f"symbol {sym!r} is invalid")
    return sym


def parse_bar(doc: dict[str, Any], *, updated: bool = False) -> ProviderBar:
    """An Alpaca bar object (stream `b`/`u` or REST) -> ProviderBar; ValueError if bad."""
    ts = parse_ts(str(doc.get("t")))
    if ts.second or ts.microsecond:
        raise ValueError(f"bar time {doc.get('t')!r} is not on a minute")
    volume = doc.get("v")
    if not isinstance(volume, int | float) or isinstance(volume, bool) or volume < 0:
        raise ValueError(f"volume {volume!r} is not a non-negative number")
    n = doc.get("n")
    vw = doc.get("vw")
    return ProviderBar(
        symbol=_symbol(doc),
        ts=ts,
        open=_num(doc, "o"),
        high=_num(doc, "h"),
        low=_num(doc, "l"),
        close=_num(doc, "c"),
        volume=int(volume),
        trade_count=n if isinstance(n, int) and not isinstance(n, bool) else None,
        vwap=float(vw) if isinstance(vw, int | float) and not isinstance(vw, bool) else None,
        updated=updated,
    )


def parse_trade(doc: dict[str, Any]) -> Trade:
    price = _num(doc, "p")
    size = doc.get("s")
    if not isinstance(size, int | float) or isinstance(size, bool) or size < 0:
        raise ValueError(f"size {size!r} is not a non-negative number")
    if price <= 0:
        raise ValueError(f"price {price!r} is not positive")
    tid = doc.get("i")
    return Trade(
        symbol=_symbol(doc),
        t_ns=parse_rfc3339_ns(str(doc.get("t"))),
        price=Decimal(repr(price)),
        size=Decimal(repr(size)),
        trade_id=tid if isinstance(tid, int) and not isinstance(tid, bool) else None,
    )


class AlpacaFeed(Feed):
    name = "alpaca"

    def __init__(self, key_id: str, secret: str, stream_url: str) -> None:
        self._key_id = key_id
        self._secret = secret
        self._url = stream_url
        self.secrets = (key_id, secret)

    @property
    def url(self) -> str:
        return self._url

    async def _control(self, recv: Recv, want: str, pending: list[Event]) -> dict[str, Any]:
        """Read frames until a control message of type `want`; raise on an error."""
        while True:
            text = await recv()
            try:
                msgs = json.loads(text)
            except json.JSONDecodeError:
                raise FeedError(
                    f"Alpaca sent a non-JSON frame during the handshake: {text[:80]!r}"
                ) from None
            if not isinstance(msgs, list):
                raise FeedError(
                    f"Alpaca sent a non-array frame during the handshake: {text[:80]!r}"
                )
            for msg in msgs:
                if not isinstance(msg, dict):
                    continue
                kind = msg.get("T")
                if kind == "error":
                    raise error_for(msg.get("code"), msg.get("msg"), self.secrets)
                if kind == want and (want != "success" or msg.get("msg") != "connected"):
                    return msg
                if kind not in ("success", "subscription"):
                    pending.extend(self._one(msg, json.dumps(msg)))

    async def handshake(self, recv: Recv, send: Send, sub: Subscription) -> list[Event]:
        pending: list[Event] = []
        text = await recv()
        try:
            first = json.loads(text)
        except json.JSONDecodeError:
            raise FeedError(f"Alpaca's welcome message is not JSON: {text[:80]!r}") from None
        if (
            isinstance(first, list)
            and first
            and isinstance(first[0], dict)
            and (first[0].get("T") == "error")
        ):
            raise error_for(first[0].get("code"), first[0].get("msg"), self.secrets)
        await send(json.dumps({"action": "auth", "key": self._key_id, "secret": self._secret}))
        await self._control(recv, "success", pending)
        channels = ["bars", "updatedBars"] if sub.channel == "bars" else ["trades"]
        request: dict[str, Any] = {"action": "subscribe"}
        for ch in channels:
            request[ch] = list(sub.symbols)
        await send(json.dumps(request))
        ack = await self._control(recv, "subscription", pending)
        for ch in channels:
            got = ack.get(ch) or []
            missing = [s for s in sub.symbols if s not in got and "*" not in got]
            if missing:
                raise FeedSubscriptionError(
                    f"Alpaca did not subscribe {ch} for {', '.join(missing)} (it answered "
                    f"{got}); check the symbols and the plan"
                )
        return pending

    def parse(self, text: str) -> list[Event]:
        try:
            msgs = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return [Rejected("malformed_frame", "frame is not JSON", text)]
        if not isinstance(msgs, list):
            return [Rejected("malformed_frame", "frame is not a JSON array of messages", text)]
        out: list[Event] = []
        for msg in msgs:
            out.extend(self._one(msg, json.dumps(msg) if not isinstance(msg, str) else msg))
        return out

    def _one(self, msg: object, raw: str) -> list[Event]:
        if not isinstance(msg, dict):
            return [Rejected("malformed_frame", "message is not a JSON object", raw)]
        kind = msg.get("T")
        if kind == "error":
            raise error_for(msg.get("code"), msg.get("msg"), self.secrets)
        if kind in ("success", "subscription"):
            return []
        try:
            if kind in ("b", "u"):
                return [parse_bar(msg, updated=kind == "u")]
            if kind == "t":
                return [parse_trade(msg)]
        except (ValueError, TypeError, OverflowError, InvalidOperation) as exc:
            reason = "bad_bar" if kind in ("b", "u") else "bad_trade"
            return [Rejected(reason, str(exc)[:200], raw)]
        return [Rejected("unknown_message", f"message type {kind!r} is not handled", raw)]


class AlpacaRest(GapFiller):
    """GET /v2/stocks/bars, 1Min, every page."""

    def __init__(self, key_id: str, secret: str, base_url: str, feed: str) -> None:
        self._headers = {"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret}
        self._secrets = (key_id, secret)
        self.base_url = base_url.rstrip("/")
        self.feed = feed
        self._client: httpx.Client | None = None  # opened on the first gap, if any

    def bars(self, symbols: Sequence[str], first: datetime, last: datetime) -> list[ProviderBar]:
        if self._client is None:
            self._client = httpx.Client(timeout=10.0)
        params: dict[str, str] = {
            "symbols": ",".join(symbols),
            "timeframe": "1Min",
            "start": format_ts(first),
            "end": format_ts(last),
            "limit": "10000",
            "feed": "iex" if self.feed == "test" else self.feed,
        }
        out: list[ProviderBar] = []
        for _ in range(100):  # pages; a gap of hours for hundreds of symbols fits easily
            try:
                resp = self._client.get(
                    f"{self.base_url}/v2/stocks/bars", params=params, headers=self._headers
                )
            except httpx.HTTPError as exc:
                raise GapFillUnavailable(
                    f"Alpaca REST bars unreachable ({type(exc).__name__})"
                ) from None
            if resp.status_code != 200:
                body = redact(resp.text[:160], self._secrets)
                raise GapFillUnavailable(
                    f"Alpaca REST bars answered HTTP {resp.status_code}: {body}"
                )
            try:
                doc = resp.json()
                for sym, rows in (doc.get("bars") or {}).items():
                    out.extend(parse_bar({**row, "S": sym}) for row in rows)
            except (ValueError, AttributeError, TypeError) as exc:
                raise GapFillUnavailable(f"Alpaca REST bars: unexpected response ({exc})") from None
            token = doc.get("next_page_token")
            if not token:
                break
            params["page_token"] = token
        return [b for b in out if first <= b.ts <= last]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
