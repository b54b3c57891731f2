"""The dashboard's contract: the filters a view is made of, parsed and checked once.

Filters arrive as query-string values from the browser (the URL is the shareable state
of a view), so every value is validated here before it reaches a named query: symbols
must match `SYMBOL_RE`, the interval must be one of `DISPLAY_INTERVALS`, times must be ISO 8601
with a zone. Anything else is a `FilterError` whose message names the value and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from stockpipe.calendar import local_midnight, session_date, sessions_back
from stockpipe.contract import INTERVAL_SECONDS, SYMBOL_RE
from stockpipe.errors import ConfigError

MAX_SYMBOLS = 20

# Presets end at the latest bar, not at the wall clock, so a closed market still shows
# its last hour instead of an empty chart. Day-sized presets count exchange sessions
# (SESSION_WINDOWS), never calendar days: "5 days" on a Monday is Monday and the four
# sessions before it, skipping the weekend and holidays.
WINDOWS: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "1d": None,
    "5d": None,
    "1m": None,
    "all": None,
    "custom": None,
}
SESSION_WINDOWS = {"1d": 1, "5d": 5, "1m": 21}

# What the interval picker offers (URL value -> seconds). Every one is rolled up by the SQL
# layer from the stored bars (`dashboard_rollup`), so a lake holding only 1-minute bars
# still offers all five.
DISPLAY_INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
# The stored names (contract.INTERVALS) are accepted in URLs too, so old links keep working.
INTERVAL_ALIASES = {"1min": "1m", "5min": "5m", "15min": "15m", "60min": "1h", "1day": "1d"}
DAY_SECONDS = 86400

# Bucket sizes for the volume chart and the heatmap: the smallest that keeps the trading
# time of a window under MAX_BUCKETS columns. No 2 h or 4 h steps: clock-aligned, they
# cut a 09:30-16:00 session into uneven pieces. The largest bucket is a day, which the
# queries take as one session (its `dt`); longer windows get one column per session.
BUCKET_STEPS = (60, 300, 900, 1800, 3600, 86400)
MAX_BUCKETS = 48


def default_interval(sessions: int, window: str) -> str:
    """A readable default per window: a few hundred bars at most."""
    if window == "1h" or sessions <= 1:
        return "1m"  # one session: 390 one-minute bars
    if sessions <= 5:
        return "5m"  # 5 sessions: 390 five-minute bars, not 1,950 one-minute ones
    if sessions <= 30:
        return "1h"  # a month: about 150 hourly bars
    return "1d"


def can_roll_up(stored: str, display: str) -> bool:
    """Whether bars of the stored interval add up exactly to bars of the display interval."""
    src, dst = INTERVAL_SECONDS.get(stored), DISPLAY_INTERVALS.get(display)
    if src is None or dst is None:
        return False
    if dst == DAY_SECONDS:
        return True  # a day is a session: any stored interval groups by its dt
    return src <= dst and src < DAY_SECONDS and dst % src == 0


class FilterError(ConfigError):
    """A dashboard filter value from the URL or the API is invalid."""


@dataclass(frozen=True)
class Filters:
    """What the user asked for (before the window is resolved against the data)."""

    #: None: not given (the server picks defaults); (): the user chose none.
    symbols: tuple[str, ...] | None
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
        return (session_date(self.start) - timedelta(days=1)).isoformat()

    @property
    def to_dt(self) -> str:
        return (session_date(self.end) + timedelta(days=1)).isoformat()

    def bucket_seconds(self, interval: str, trading_seconds: float | None = None) -> int:
        """The bucket size for `interval` bars; `trading_seconds` is the window's trading
        time when known (sessions x 6.5 h), so nights and weekends do not count."""
        span = (self.end - self.start).total_seconds()
        if trading_seconds is not None:
            span = min(span, trading_seconds)
        floor = DISPLAY_INTERVALS.get(interval) or INTERVAL_SECONDS.get(interval, 60)
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
    # An absent `symbols` means "the defaults"; an empty one means the user ticked none.
    symbols = parse_symbols(params.get("symbols")) if "symbols" in params else None
    interval = (params.get("interval") or "").strip() or None
    if interval is not None:
        interval = INTERVAL_ALIASES.get(interval, interval)
        if interval not in DISPLAY_INTERVALS:
            raise FilterError(
                f"interval {interval!r} is unknown: use one of {', '.join(DISPLAY_INTERVALS)}"
            )
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
    sessions = SESSION_WINDOWS.get(filters.window)
    if sessions is not None:
        # N sessions end with the latest bar's session and start at exchange-local
        # midnight of the first one, so pre-market bars belong to their own day.
        first_day = sessions_back(session_date(last_ts), sessions)
        return Window(max(first_ts, local_midnight(first_day)), last_ts)
    span = WINDOWS[filters.window]
    if span is None:
        return Window(first_ts, last_ts)
    return Window(max(first_ts, last_ts - span), last_ts)
