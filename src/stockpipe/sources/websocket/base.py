"""The contracts of the websocket sources: what a feed yields, and how it fails.

A feed (`alpaca.py`, `finnhub.py`) turns provider frames into `Event`s; the connection
(`connection.py`) runs one feed's protocol; the source (`source.py`) turns events into
stream payloads. Every provider-specific detail stays in the feed module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from stockpipe.errors import SourceError

NS_PER_MINUTE = 60_000_000_000


# -- errors -----------------------------------------------------------------------


class FeedError(SourceError):
    """A websocket feed failed in a way retrying will not fix."""


class FeedAuthError(FeedError):
    """The provider rejected the credentials."""

    exit_code = 2


class FeedSubscriptionError(FeedError):
    """The provider refused the subscription (symbol/channel limit, plan, bad request)."""

    exit_code = 2


class FeedLimitError(FeedError):
    """The provider's connection limit is exceeded, still after the retries."""


class FeedDisconnected(Exception):
    """The connection is lost or silent (stall): the connection loop reconnects.

    Internal: never leaves `connection.py`, so it is not a StockpipeError.
    """


# -- events -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade (or price-only update, size 0) on exchange time."""

    symbol: str
    t_ns: int  # event time, nanoseconds since the epoch, UTC
    price: Decimal
    size: Decimal
    trade_id: int | None = None  # Alpaca's `i`; Finnhub trades carry no ID

    @property
    def order_key(self) -> tuple[int, int, Decimal, Decimal]:
        """A total order that does not depend on arrival: time, then ID, price, size.

        Open is the smallest key of a minute and close the largest, so two trades in the
        same nanosecond give the same bar whatever order they arrive in.
        """
        return (self.t_ns, self.trade_id or 0, self.price, self.size)


@dataclass(frozen=True, slots=True)
class ProviderBar:
    """A minute bar as the provider computed it (Alpaca `b`/`u`, or a REST bar)."""

    symbol: str
    ts: datetime  # bar start, UTC
    open: float
    high: float
    low: float
    close: float
    volume: int
    trade_count: int | None = None
    vwap: float | None = None
    updated: bool = False  # Alpaca `u`: a late correction of a bar already sent


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that cannot be used: it goes to quarantine with this reason."""

    reason: str  # malformed_frame, unknown_message, bad_trade, bad_bar, too_late, ...
    detail: str
    raw: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A provider heartbeat (Finnhub `ping`): proves the connection is alive."""


Event = Trade | ProviderBar | Rejected | Heartbeat


@dataclass
class Subscription:
    symbols: Sequence[str]
    channel: str  # "trades" or "bars" (bars include updatedBars)


Recv = Callable[[], Awaitable[str]]
Send = Callable[[str], Awaitable[None]]


class Feed(ABC):
    """One provider's websocket protocol. Stateless between connections."""

    name: str
    #: Secrets to redact from every message that could be logged or raised.
    secrets: tuple[str, ...] = ()

    @property
    @abstractmethod
    def url(self) -> str:
        """The URL to connect to (may carry the key: never log it)."""

    @property
    def display_url(self) -> str:
        """The URL with secrets removed, for messages."""
        return redact(self.url, self.secrets)

    def headers(self) -> dict[str, str]:
        return {}

    @abstractmethod
    async def handshake(self, recv: Recv, send: Send, sub: Subscription) -> list[Event]:
        """Authenticate and subscribe; return data events that arrived meanwhile.

        Raises FeedAuthError / FeedSubscriptionError / FeedLimitError on a refusal.
        """

    @abstractmethod
    def parse(self, text: str) -> list[Event]:
        """One frame after the handshake. Bad messages become `Rejected` events; a
        refusal the provider sends mid-stream raises its FeedError."""


def redact(text: str, secrets: Sequence[str]) -> str:
    """Hide every secret in a text (URLs carry Finnhub's token as ?token=...)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def parse_rfc3339_ns(text: str) -> int:
    """RFC 3339 with up to nanosecond digits (Alpaca's `t`) -> ns since the epoch, UTC.

    `datetime` keeps microseconds only, so the fraction is parsed separately.
    """
    if not isinstance(text, str) or len(text) < 20:
        raise ValueError(f"timestamp {text!r} is not RFC 3339")
    body, frac = text, ""
    zone = ""
    if body.endswith("Z"):
        body, zone = body[:-1], "+00:00"
    elif len(body) > 6 and body[-6] in "+-" and body[-3] == ":":
        body, zone = body[:-6], body[-6:]
    else:
        raise ValueError(f"timestamp {text!r} has no time zone")
    if "." in body:
        body, frac = body.split(".", 1)
        if not frac.isdigit() or len(frac) > 9:
            raise ValueError(f"timestamp {text!r} has a bad fraction of a second")
    whole = datetime.fromisoformat(body + zone)
    seconds = int(whole.timestamp())
    return seconds * 1_000_000_000 + int((frac + "000000000")[:9])


def ns_to_datetime(t_ns: int) -> datetime:
    seconds, rest = divmod(t_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)


def minute_of(t_ns: int) -> int:
    """The start of the minute holding `t_ns`, in ns."""
    return t_ns - t_ns % NS_PER_MINUTE


class GapFillUnavailable(Exception):
    """The provider's REST bars cannot fill a gap (plan, key, limit): says why."""


class GapFiller(ABC):
    """Minute bars from a provider's REST endpoint, to fill what a disconnect missed."""

    @abstractmethod
    def bars(self, symbols: Sequence[str], first: datetime, last: datetime) -> list[ProviderBar]:
        """Closed 1-minute bars starting in [first, last], every symbol.

        Raises GapFillUnavailable with the reason when the plan or the key does not allow
        it, or the endpoint fails."""

    def close(self) -> None:
        return None
