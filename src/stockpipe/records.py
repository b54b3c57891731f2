"""The canonical stream record: one intraday bar, as JSON."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from stockpipe.contract import SCHEMA_VERSION


def format_ts(ts: datetime) -> str:
    """ISO 8601 in UTC with a trailing Z, e.g. 2026-11-25T14:30:00Z."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: stockpipe stores only UTC-aware times")
    return _format_utc(ts)


@functools.lru_cache(maxsize=8192)
def _format_utc(ts: datetime) -> str:
    # Bars of many symbols share each minute: a source formats each instant once. Equal
    # instants in other zones hash alike and give the same UTC text.
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(text: str) -> datetime:
    """Parse an ISO 8601 timestamp that carries a zone (Z or an offset) into UTC."""
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return ts.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    interval: str
    ts: datetime  # bar start, UTC-aware
    open: float
    high: float
    low: float
    close: float
    volume: int
    source: str

    @property
    def partition_key(self) -> str:
        # Partition key = symbol, so one symbol's bars stay ordered in one shard.
        return self.symbol

    def to_dict(self) -> dict[str, object]:
        return {
            "schema_version": SCHEMA_VERSION,
            "symbol": self.symbol,
            "interval": self.interval,
            "ts": format_ts(self.ts),
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
            "source": self.source,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()
