"""Trades -> exact 1-minute OHLCV bars (plus trade count and VWAP), per symbol.

Event time is the exchange's trade time. A bar [m, m+1min) is emitted once the
watermark passes m+1min. The watermark is the latest event time seen, advanced by the
wall-clock time elapsed since that trade arrived (so a quiet feed still closes its
bars), minus the allowed lateness:

    watermark = max_event_time + (now - arrival of that trade) - lateness

A trade that arrives after its minute was emitted updates the retained bar, and the
corrected bar is emitted again with the same (symbol, interval, ts) key: the processing
stage keeps the last version, so the stored bar ends up exact. Closed bars are retained
for `horizon` after the watermark passes them; a trade older than that is rejected as
`too_late` (it goes to quarantine, nothing is silently dropped).

Exactness: prices and sizes are Decimals (parsed from the JSON text), so the sums, and
with them VWAP, do not depend on arrival order; open/close are the smallest/largest
trades by (time, trade ID, price, size), which does not depend on arrival order either.
Price-only updates (Finnhub `v = 0`) move open/high/low/close but add no volume, no
trade and nothing to VWAP.

Restart: `to_state()` holds every open and retained bar with the IDs of its trades, and
the watermark. The source saves it after the stream has accepted the bars emitted from
it, so a restarted aggregator neither re-counts a trade it has (IDs are checked where
the provider sends them) nor forgets one it had counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from stockpipe.records import format_ts, parse_ts
from stockpipe.sources.websocket.base import (
    NS_PER_MINUTE,
    ProviderBar,
    Rejected,
    Trade,
    minute_of,
    ns_to_datetime,
)

_ZERO = Decimal(0)
OrderKey = tuple[int, int, Decimal, Decimal]
STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class AggBar:
    symbol: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    trade_count: int
    vwap: float | None
    version: int  # 1 = first emission, 2+ = corrections

    def to_dict(self, source: str) -> dict[str, object]:
        from stockpipe.contract import SCHEMA_VERSION

        return {
            "schema_version": SCHEMA_VERSION,
            "symbol": self.symbol,
            "interval": "1min",
            "ts": format_ts(self.ts),
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
            "source": source,
            "trade_count": self.trade_count,
            "vwap": self.vwap,
        }


@dataclass
class _Acc:
    first: OrderKey
    open: Decimal
    last: OrderKey
    close: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal = _ZERO
    pv: Decimal = _ZERO
    count: int = 0
    ids: set[int] = field(default_factory=set)
    versions: int = 0  # how many times emitted
    dirty: bool = True
    sealed: bool = False  # replaced by a provider (REST) bar: later trades are in it

    @classmethod
    def start(cls, trade: Trade) -> _Acc:
        key = trade.order_key
        p = trade.price
        return cls(first=key, open=p, last=key, close=p, high=p, low=p)

    def add(self, trade: Trade) -> None:
        key, p = trade.order_key, trade.price
        if key < self.first:
            self.first, self.open = key, p
        if key > self.last:
            self.last, self.close = key, p
        self.high = max(self.high, p)
        self.low = min(self.low, p)
        if trade.size > 0:
            self.volume += trade.size
            self.pv += trade.size * p
            self.count += 1
        if trade.trade_id is not None:
            self.ids.add(trade.trade_id)
        self.dirty = True

    def bar(self, symbol: str, minute_ns: int) -> AggBar:
        vwap = float(self.pv / self.volume) if self.volume > 0 else None
        return AggBar(
            symbol=symbol,
            ts=ns_to_datetime(minute_ns),
            open=float(self.open),
            high=float(self.high),
            low=float(self.low),
            close=float(self.close),
            volume=int(self.volume.to_integral_value()),
            trade_count=self.count,
            vwap=vwap,
            version=self.versions,
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "first": [self.first[0], self.first[1], str(self.first[2]), str(self.first[3])],
            "open": str(self.open),
            "last": [self.last[0], self.last[1], str(self.last[2]), str(self.last[3])],
            "close": str(self.close),
            "high": str(self.high),
            "low": str(self.low),
            "volume": str(self.volume),
            "pv": str(self.pv),
            "count": self.count,
            "ids": sorted(self.ids),
            "versions": self.versions,
            "dirty": self.dirty,
            "sealed": self.sealed,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> _Acc:
        def key(k: list[Any]) -> OrderKey:
            return (int(k[0]), int(k[1]), Decimal(k[2]), Decimal(k[3]))

        return cls(
            first=key(doc["first"]),
            open=Decimal(doc["open"]),
            last=key(doc["last"]),
            close=Decimal(doc["close"]),
            high=Decimal(doc["high"]),
            low=Decimal(doc["low"]),
            volume=Decimal(doc["volume"]),
            pv=Decimal(doc["pv"]),
            count=int(doc["count"]),
            ids={int(i) for i in doc["ids"]},
            versions=int(doc["versions"]),
            dirty=bool(doc["dirty"]),
            sealed=bool(doc["sealed"]),
        )


class TradeAggregator:
    """Per-symbol minute bars from trades; see the module docstring for the rules."""

    def __init__(self, lateness_s: float = 2.0, horizon_s: float = 600.0) -> None:
        if lateness_s < 0:
            raise ValueError(f"lateness {lateness_s} must be >= 0 seconds")
        self.lateness_ns = int(lateness_s * 1e9)
        self.horizon_ns = int(horizon_s * 1e9)
        self.bars: dict[tuple[str, int], _Acc] = {}
        # Keys whose bar has unsent changes: polls look at these only, not every bar.
        self._pending: set[tuple[str, int]] = set()
        self.max_event_ns: int | None = None
        self._wall_at_max: float = 0.0
        # Minutes that start before this are closed for good (beyond the horizon).
        self.closed_before_ns: int | None = None
        self.stats = {"trades": 0, "duplicates": 0, "too_late": 0, "in_filled": 0}

    # -- watermark ----------------------------------------------------------------

    def watermark(self, now: float) -> int | None:
        """Event-time watermark in ns, given the wall clock `now` (seconds, monotonic)."""
        if self.max_event_ns is None:
            return None
        idle = max(0.0, now - self._wall_at_max)
        return self.max_event_ns + int(idle * 1e9) - self.lateness_ns

    # -- input --------------------------------------------------------------------

    def add(self, trade: Trade, now: float) -> Rejected | None:
        """Count one trade. Returns a `Rejected` when it is too late to be counted."""
        minute = minute_of(trade.t_ns)
        if self.closed_before_ns is not None and minute < self.closed_before_ns:
            self.stats["too_late"] += 1
            return Rejected(
                "too_late",
                f"{trade.symbol} trade at {format_ts(ns_to_datetime(trade.t_ns))} arrived after "
                f"its bar was final (older than the {self.horizon_ns // 10**9} s correction "
                "horizon)",
                "",
            )
        key = (trade.symbol, minute)
        acc = self.bars.get(key)
        if acc is not None and acc.sealed:
            self.stats["in_filled"] += 1  # the provider's bar for this minute has it already
        elif acc is not None and trade.trade_id is not None and trade.trade_id in acc.ids:
            self.stats["duplicates"] += 1
        else:
            if acc is None:
                acc = self.bars[key] = _Acc.start(trade)
            acc.add(trade)
            self._pending.add(key)
            self.stats["trades"] += 1
        if self.max_event_ns is None or trade.t_ns > self.max_event_ns:
            self.max_event_ns = trade.t_ns
            self._wall_at_max = now
        return None

    def replace(self, bar: ProviderBar) -> None:
        """Make a provider bar (REST gap fill) the value of its minute, sealed."""
        minute = int(bar.ts.timestamp()) * 1_000_000_000
        ts_key = (minute, 0, Decimal(0), Decimal(0))
        end_key = (minute + NS_PER_MINUTE - 1, 0, Decimal(0), Decimal(0))
        old = self.bars.get((bar.symbol, minute))
        volume = Decimal(bar.volume)
        vwap = Decimal(str(bar.vwap)) if bar.vwap is not None else None
        acc = _Acc(
            first=ts_key,
            open=Decimal(str(bar.open)),
            last=end_key,
            close=Decimal(str(bar.close)),
            high=Decimal(str(bar.high)),
            low=Decimal(str(bar.low)),
            volume=volume,
            pv=(vwap * volume) if vwap is not None else _ZERO,
            count=bar.trade_count or 0,
            versions=old.versions if old else 0,
            sealed=True,
        )
        self.bars[(bar.symbol, minute)] = acc
        self._pending.add((bar.symbol, minute))

    # -- output -------------------------------------------------------------------

    def poll(self, now: float) -> list[AggBar]:
        """Bars to emit now: closed bars not yet sent, and corrections of sent ones."""
        wm = self.watermark(now)
        if wm is None:
            return []
        out = self._emit(lambda minute: minute + NS_PER_MINUTE <= wm)
        # Forget bars the watermark passed more than `horizon` ago.
        boundary = minute_of(wm - self.horizon_ns)
        if self.closed_before_ns is None or boundary > self.closed_before_ns:
            self.closed_before_ns = boundary
            for key in [k for k, a in self.bars.items() if k[1] < boundary and not a.dirty]:
                del self.bars[key]
        return out

    def flush_all(self) -> list[AggBar]:
        """Every bar with unsent changes, closed or not (end of a finite replay)."""
        return self._emit(lambda minute: True)

    def _emit(self, ready: Any) -> list[AggBar]:
        out: list[AggBar] = []
        for key in sorted((k for k in self._pending if ready(k[1])), key=lambda k: (k[1], k[0])):
            acc = self.bars[key]
            acc.versions += 1
            acc.dirty = False
            out.append(acc.bar(*key))
            self._pending.discard(key)
        return out

    # -- restart ------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "max_event": format_ts(ns_to_datetime(self.max_event_ns))
            if self.max_event_ns is not None
            else None,
            "max_event_ns": self.max_event_ns,
            "closed_before_ns": self.closed_before_ns,
            "bars": [[s, m, acc.to_doc()] for (s, m), acc in sorted(self.bars.items())],
        }

    def load_state(self, doc: dict[str, Any], now: float) -> None:
        """Resume from `to_state()`. The watermark restarts from the saved event time,
        as if the last trade had just arrived (the wall time in between is unknown)."""
        if doc.get("version") != STATE_VERSION:
            raise ValueError(f"aggregator state version {doc.get('version')!r} is not supported")
        self.max_event_ns = doc["max_event_ns"]
        if self.max_event_ns is not None:
            # Cross-check the readable copy, so a hand-edited file fails loudly.
            parse_ts(str(doc["max_event"]))
        self._wall_at_max = now
        self.closed_before_ns = doc["closed_before_ns"]
        self.bars = {(str(s), int(m)): _Acc.from_doc(a) for s, m, a in doc["bars"]}
        self._pending = {k for k, a in self.bars.items() if a.dirty}
