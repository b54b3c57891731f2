"""The dashboard's contract: the filters a view is made of, parsed and checked once.

Filters arrive as query-string values from the browser (the URL is the shareable state
of a view), so every value is validated here before it reaches a named query: symbols
must match `SYMBOL_RE`, the interval must be one of `INTERVALS`, times must be ISO 8601
with a zone. Anything else is a `FilterError` whose message names the value and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from stockpipe.contract import INTERVAL_SECONDS, INTERVALS, SYMBOL_RE
from stockpipe.errors import ConfigError

EXCHANGE_TZ = ZoneInfo("America/New_York")
MAX_SYMBOLS = 20

# Presets end at the latest bar, not at the wall clock, so a closed market still shows
# its last hour instead of an empty chart.
WINDOWS: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "5d": timedelta(days=5),
    "1m": timedelta(days=30),
    "all": None,
    "custom": None,
}

# Bucket sizes for the volume chart and the heatmap: the smallest that keeps a window
# under MAX_BUCKETS columns, so the heatmap stays readable at every window.
BUCKET_STEPS = (60, 300, 900, 1800, 3600, 7200, 14400, 86400, 7 * 86400, 30 * 86400)
MAX_BUCKETS = 48


class FilterError(ConfigError):
    """A dashboard filter value from the URL or the API is invalid."""


@dataclass(frozen=True)
class Filters:
    """What the user asked for (before the window is resolved against the data)."""

    symbols: tuple[str, ...]
    interval: str | None
    window: str
    start: datetime | None = None  # custom range only
    end: datetime | None = None


@dataclass(frozen=True)
class Window:
    """A resolved time window, with the session dates that bound it for pruning."""

    start: datetime
    end: datetime

    @property
    def from_dt(self) -> str:
        # One day of slack each side: daily bars may carry a midnight-UTC timestamp.
        return (self.start.astimezone(EXCHANGE_TZ).date() - timedelta(days=1)).isoformat()

    @property
    def to_dt(self) -> str:
        return (self.end.astimezone(EXCHANGE_TZ).date() + timedelta(days=1)).isoformat()

    def bucket_seconds(self, interval: str) -> int:
        span = (self.end - self.start).total_seconds()
        floor = INTERVAL_SECONDS.get(interval, 60)
        for step in BUCKET_STEPS:
            if step >= floor and span / step <= MAX_BUCKETS:
                return step
        return BUCKET_STEPS[-1]


def iso_z(ts: datetime) -> str:
    """ISO 8601 UTC with a trailing Z (what the named queries and the browser expect)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_symbols(raw: str | None) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return ()
    out: list[str] = []
    for part in raw.split(","):
        symbol = part.strip().upper()
        if not symbol:
            continue
        if not SYMBOL_RE.match(symbol):
            raise FilterError(
                f"symbol {part.strip()!r} is not a valid ticker: use 1-12 characters "
                "A-Z, 0-9, '.' or '-', e.g. AAPL or BRK.B"
            )
        if symbol not in out:
            out.append(symbol)
    if len(out) > MAX_SYMBOLS:
        raise FilterError(f"{len(out)} symbols selected: choose at most {MAX_SYMBOLS}")
    return tuple(out)


def parse_time(name: str, raw: str) -> datetime:
    try:
        ts = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(
            f"{name}={raw!r} is not a time: use ISO 8601 with a zone, e.g. 2026-01-02T14:30:00Z"
        ) from None
    if ts.tzinfo is None:
        # A datetime-local input has no zone; the dashboard shows and sends UTC.
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def parse_filters(params: Mapping[str, str]) -> Filters:
    """Filters from query-string values; raises FilterError on any invalid value."""
    symbols = parse_symbols(params.get("symbols"))
    interval = (params.get("interval") or "").strip() or None
    if interval is not None and interval not in INTERVALS:
        raise FilterError(f"interval {interval!r} is unknown: use one of {', '.join(INTERVALS)}")
    window = (params.get("window") or "1d").strip()
    if window not in WINDOWS:
        raise FilterError(f"window {window!r} is unknown: use one of {', '.join(WINDOWS)}")
    start = end = None
    if window == "custom":
        raw_from, raw_to = params.get("from"), params.get("to")
        if not raw_from or not raw_to:
            raise FilterError("a custom window needs both 'from' and 'to' times (ISO 8601, UTC)")
        start, end = parse_time("from", raw_from), parse_time("to", raw_to)
        if start >= end:
            raise FilterError(
                f"custom window from={iso_z(start)} is not before to={iso_z(end)}: swap them"
            )
    return Filters(symbols, interval, window, start, end)


def resolve_window(filters: Filters, first_ts: datetime, last_ts: datetime) -> Window:
    """The concrete window: presets end at the latest bar of the selection."""
    if filters.window == "custom" and filters.start and filters.end:
        return Window(filters.start, filters.end)
    if filters.window == "1d":
        # "1 day" is the latest bar's session: from exchange-local midnight, not 24 hours,
        # so the previous afternoon does not leak into today's charts.
        local = last_ts.astimezone(EXCHANGE_TZ)
        midnight = datetime(local.year, local.month, local.day, tzinfo=EXCHANGE_TZ)
        return Window(max(first_ts, midnight.astimezone(UTC)), last_ts)
    span = WINDOWS[filters.window]
    if span is None:
        return Window(first_ts, last_ts)
    return Window(max(first_ts, last_ts - span), last_ts)
