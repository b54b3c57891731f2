"""One feed's websocket connection, kept alive in a background thread.

The `websockets` library speaks the protocol (handshake, framing, ping/pong: it answers
the server's pings and sends its own, so a dead TCP link is noticed). On top of it:
- a silent connection (no message for `stall_s`) counts as dead and is reopened;
- every reconnect waits an exponential backoff with jitter, reset after a handshake
  succeeds, then re-authenticates and resubscribes (the feed's `handshake`);
- refusals are final and distinct (FeedAuthError, FeedSubscriptionError), except the
  connection limit, which may clear when an old connection times out, so it is retried
  `limit_retries` times before FeedLimitError is final.
The thread hands (kind, payload, wall time) tuples to the source through a queue:
("connected", None, t), ("disconnected", reason, t), ("events", [Event], t),
("fatal", FeedError, t).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import random
import threading
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from stockpipe.sources.websocket.base import (
    Feed,
    FeedAuthError,
    FeedDisconnected,
    FeedError,
    FeedLimitError,
    Rejected,
    Subscription,
    redact,
)

log = logging.getLogger("stockpipe.sources.websocket")
# websockets logs the request line (Finnhub's token is in it) at DEBUG: keep its logger
# at INFO whatever the root level, so the URL never reaches a log.
_WIRE = logging.getLogger("stockpipe.sources.websocket.wire")
_WIRE.setLevel(logging.INFO)

Message = tuple[str, Any, float]


class FeedConnection:
    def __init__(
        self,
        feed: Feed,
        sub: Subscription,
        out: queue.Queue[Message],
        stall_s: float = 90.0,
        backoff_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        limit_retries: int = 5,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.feed = feed
        self.sub = sub
        self.out = out
        self.stall_s = stall_s
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.limit_retries = limit_retries
        self.open_timeout_s = open_timeout_s
        self.connects = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = threading.Event()

    # -- thread control -----------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"stockpipe-{self.feed.name}-ws", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self._main())
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    def _put(self, kind: str, payload: Any = None) -> None:
        self.out.put((kind, payload, time.time()))

    # -- the loop -------------------------------------------------------------------

    def _delay(self, attempt: int) -> float:
        # "Full jitter" between half and all of the capped exponential step, so many
        # clients dropped at once do not come back in lockstep.
        step = min(self.backoff_cap_s, self.backoff_s * 2.0**attempt)
        return step * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security

    async def _main(self) -> None:
        attempt = 0
        limit_hits = 0
        while not self._stopping.is_set():
            before = self.connects
            try:
                await self._session()
                reason = "closed by the server"
            except (FeedAuthError, FeedError) as exc:
                if isinstance(exc, FeedLimitError):
                    limit_hits += 1
                    if limit_hits <= self.limit_retries:
                        reason = str(exc)
                    else:
                        self._put("fatal", exc)
                        return
                else:
                    self._put("fatal", exc)
                    return
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    self._put(
                        "fatal",
                        FeedAuthError(
                            f"{self.feed.name} refused the connection with HTTP {status}: the "
                            f"key is invalid or not allowed this feed; {_key_help(self.feed)}"
                        ),
                    )
                    return
                reason = f"HTTP {status} at the websocket upgrade"
            except FeedDisconnected as exc:
                reason = str(exc)
            except (WebSocketException, OSError, TimeoutError) as exc:
                reason = redact(f"{type(exc).__name__}: {exc}", self.feed.secrets)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported to the source, never lost
                # A bug or a reply nobody documented: stop with a readable line rather than
                # leave the source waiting on a dead thread.
                detail = redact(f"{type(exc).__name__}: {exc}", self.feed.secrets)
                self._put("fatal", FeedError(f"{self.feed.name} feed failed: {detail}"[:300]))
                return
            if self._stopping.is_set():
                return
            if self.connects > before:
                attempt = 0  # the handshake succeeded: this is a fresh outage
            delay = self._delay(attempt)
            attempt += 1
            self._put("disconnected", reason)
            log.warning(
                "%s: connection lost (%s); reconnecting in %.1f s",
                self.feed.name,
                reason[:200],
                delay,
            )
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        async with connect(
            self.feed.url,
            additional_headers=self.feed.headers() or None,
            open_timeout=self.open_timeout_s,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
            max_size=2**23,
            logger=_WIRE,
        ) as ws:

            async def recv() -> str:
                try:
                    frame = await asyncio.wait_for(ws.recv(), self.stall_s)
                except TimeoutError:
                    raise FeedDisconnected(
                        f"no message for {self.stall_s:g} s: the connection is stalled"
                    ) from None
                if isinstance(frame, bytes):
                    try:
                        return frame.decode("utf-8")
                    except UnicodeDecodeError:
                        return frame.decode("utf-8", errors="replace")
                return frame

            async def send(text: str) -> None:
                await ws.send(text)

            pending = await self.feed.handshake(recv, send, self.sub)
            self.connects += 1
            self._put("connected")
            if pending:
                self._put("events", pending)
            while True:
                try:
                    text = await recv()
                except WebSocketException as exc:
                    raise FeedDisconnected(f"{type(exc).__name__}: {exc}") from None
                try:
                    events = self.feed.parse(text)
                except FeedError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one bad frame must not end the feed
                    events = [Rejected("malformed_frame", f"{type(exc).__name__}", text)]
                self._put("events", events)


def _key_help(feed: Feed) -> str:
    from stockpipe.sources.websocket import alpaca, finnhub

    return alpaca.KEY_HELP if feed.name == "alpaca" else finnhub.KEY_HELP
