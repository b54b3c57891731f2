"""Local fakes of the Alpaca and Finnhub feeds: real websocket servers on 127.0.0.1.

Each speaks the documented protocol (see the module docstrings of
stockpipe.sources.websocket.alpaca / .finnhub for the pages):
- Alpaca (https://docs.alpaca.markets/docs/streaming-market-data): sends
  [{"T":"success","msg":"connected"}], checks {"action":"auth","key","secret"}, answers
  [{"T":"success","msg":"authenticated"}] or [{"T":"error","code":402,"msg":"auth failed"}],
  acknowledges {"action":"subscribe",...} with [{"T":"subscription",...}] or an error;
  REST GET /v2/stocks/bars on the same port.
- Finnhub (https://finnhub.io/docs/api/websocket-trades): checks ?token= at the upgrade
  (HTTP 401 when wrong), records {"type":"subscribe","symbol"} messages; REST GET
  /stock/candle on the same port (or HTTP 403, as on the free plan).
Each connection plays the next `Session` of the script: frames to send, then `end`:
"hold" (stay open), "drop" (close abruptly), or "stall" (stay open, send nothing).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from stockpipe.sources.websocket.finnhub import FinnhubFeed, FinnhubRest
from stockpipe.sources.websocket.source import WebsocketSource

KEY_ID, SECRET, TOKEN = "PLANTEDalpacaID42", "PLANTEDalpacaSECRET42", "PLANTEDfinnhubTOKEN42"


@dataclass
class Session:
    frames: list[str | bytes] = field(default_factory=list)
    gap_s: float = 0.0  # pause between frames
    end: str = "hold"  # hold | drop | stall
    first: str | None = None  # Alpaca: replace the welcome message (e.g. a 406 error)
    sub_error: dict[str, Any] | None = None  # Alpaca: answer the subscribe with this error
    wait_s: float = 0.0  # pause before the first frame


class FakeFeed:
    def __init__(
        self, kind: str, sessions: list[Session], rest: Any = None, ping_s: float | None = None
    ) -> None:
        self.kind = kind
        self.ping_s = ping_s  # websocket-level pings: the peer must pong within ping_s
        self.sessions = sessions
        self.rest = rest  # dict (JSON body) or int (an HTTP error status) or callable
        self.connections = 0
        self.auth_messages: list[dict[str, Any]] = []
        self.subscribes: list[Any] = []
        self.rest_queries: list[dict[str, list[str]]] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    # -- lifecycle ------------------------------------------------------------------

    def __enter__(self) -> FakeFeed:
        self._thread.start()
        assert self._ready.wait(10), "fake feed did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def url(self) -> str:
        path = "/v2/iex" if self.kind == "alpaca" else "/"
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._http,
            ping_interval=self.ping_s,
            ping_timeout=self.ping_s,
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    # -- HTTP: the REST endpoints and Finnhub's token check ---------------------------

    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        if parts.path in ("/v2/stocks/bars", "/stock/candle"):
            self.rest_queries.append(query)
            if self.kind == "alpaca" and (
                request.headers.get("APCA-API-KEY-ID") != KEY_ID
                or request.headers.get("APCA-API-SECRET-KEY") != SECRET
            ):
                return conn.respond(HTTPStatus.FORBIDDEN, '{"message":"forbidden"}\n')
            rest = self.rest(query) if callable(self.rest) else self.rest
            if isinstance(rest, int):
                return conn.respond(
                    HTTPStatus(rest), '{"error":"You don\'t have access to this resource."}\n'
                )
            return conn.respond(HTTPStatus.OK, json.dumps(rest or {}) + "\n")
        if self.kind == "finnhub" and query.get("token") != [TOKEN]:
            return conn.respond(HTTPStatus.UNAUTHORIZED, "Invalid API key\n")
        return None

    # -- websocket ----------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        session = self.sessions[min(index, len(self.sessions) - 1)]
        if self.kind == "alpaca":
            if not await self._alpaca_handshake(ws, session):
                return
        else:
            asyncio.get_running_loop().create_task(self._finnhub_reader(ws))
        await asyncio.sleep(session.wait_s)
        for frame in session.frames:
            await ws.send(frame)
            if session.gap_s:
                await asyncio.sleep(session.gap_s)
        if session.end == "drop":
            await asyncio.sleep(0.1)  # abort() discards unsent data: let the frames go first
            ws.transport.abort()  # no close frame: like a network failure
            return
        # hold and stall both keep the connection open; stall just never sends again.
        await ws.wait_closed()

    async def _alpaca_handshake(self, ws: ServerConnection, session: Session) -> bool:
        await ws.send(session.first or json.dumps([{"T": "success", "msg": "connected"}]))
        if session.first and '"error"' in session.first:
            await ws.close()
            return False
        auth = json.loads(await ws.recv())
        self.auth_messages.append(auth)
        if auth.get("key") != KEY_ID or auth.get("secret") != SECRET:
            await ws.send(json.dumps([{"T": "error", "code": 402, "msg": "auth failed"}]))
            await ws.close()
            return False
        await ws.send(json.dumps([{"T": "success", "msg": "authenticated"}]))
        sub = json.loads(await ws.recv())
        self.subscribes.append(sub)
        if session.sub_error is not None:
            await ws.send(json.dumps([{"T": "error", **session.sub_error}]))
            await ws.close()
            return False
        ack: dict[str, Any] = {"T": "subscription", "trades": [], "quotes": [], "bars": []}
        ack.update({"updatedBars": [], "dailyBars": [], "statuses": [], "lulds": []})
        for ch in ("trades", "bars", "updatedBars"):
            ack[ch] = sub.get(ch, [])
        await ws.send(json.dumps([ack]))
        return True

    async def _finnhub_reader(self, ws: ServerConnection) -> None:
        try:
            async for text in ws:
                self.subscribes.append(json.loads(text))
        except Exception:  # noqa: BLE001 - the connection ended
            return


# -- fixtures in the documented shapes ------------------------------------------------


def iso(ts: datetime, nanos: int = 0) -> str:
    """RFC 3339 with nanoseconds, as Alpaca sends `t`."""
    base = ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ts.microsecond * 1000 + nanos:09d}Z"


def alpaca_bar(kind: str, symbol: str, ts: datetime, o: float, h: float, lo: float, c: float,
               v: int, n: int = 10, vw: float | None = None) -> dict[str, Any]:  # fmt: skip
    """Shape of https://docs.alpaca.markets/docs/real-time-stock-pricing-data (Bars)."""
    return {"T": kind, "S": symbol, "o": o, "h": h, "l": lo, "c": c, "v": v,
            "t": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "n": n, "vw": vw or round((h + lo + c) / 3, 4)}  # fmt: skip


def alpaca_trade(symbol: str, ts: datetime, price: float, size: int, tid: int) -> dict[str, Any]:
    """Shape of the Trades example on the same page: {"T":"t","i","S","x","p","s","t","c","z"}."""
    return {"T": "t", "i": tid, "S": symbol, "x": "V", "p": price, "s": size, "t": iso(ts),
            "c": ["@"], "z": "C"}  # fmt: skip


def finnhub_trades(*trades: tuple[str, float, datetime, float]) -> str:
    """Shape of https://finnhub.io/docs/api/websocket-trades: {"type":"trade","data":[...]}."""
    data = [
        {"s": s, "p": p, "t": int(ts.timestamp() * 1000), "v": v, "c": ["1", "12"]}
        for s, p, ts, v in trades
    ]
    return json.dumps({"type": "trade", "data": data})


PING = json.dumps({"type": "ping"})


# -- sources on a fake feed, as the feed tests and the CLI tests drive them -----------


def finnhub(feed: FakeFeed, state: Path, token: str = TOKEN, **kw: Any) -> WebsocketSource:
    src = FinnhubFeed(token, feed.url)
    opts = {"stall_s": 5.0, "backoff_s": 0.05, "backoff_cap_s": 0.2, "heartbeat_s": 0.05,
            "lateness_s": 0.5, **kw}  # fmt: skip
    return WebsocketSource(
        src, ["AAPL", "MSFT"], state, filler=FinnhubRest(token, feed.http), **opts
    )


def collect(
    source: WebsocketSource, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 20
) -> list[dict[str, Any]]:
    """Iterate the source like the ingest stage, keeping every payload, until `until`."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    gen = source.batches()
    for batch in gen:
        out.extend(json.loads(data) for _, data in batch)
        if until(out) or time.monotonic() > deadline:
            source.stop()
            break
    gen.close()
    return out
