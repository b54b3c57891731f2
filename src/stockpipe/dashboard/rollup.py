"""Display intervals from stored bars: which stored interval to roll up, and the indicators
of rolled-up bars.

The OHLCV of a 5-minute or daily bar is rolled up by the SQL layer (`dashboard_rollup`,
the same file on DuckDB and Athena). Indicators are not: EMA, RSI and MACD are recursive,
which SQL cannot express, so they are computed here over the rolled-up bars with the
pipeline's own kernel (`stockpipe.processing.indicators`), after a lookback long enough
to warm them up. The session VWAP comes from SQL: it is exact at every bucket's end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from stockpipe.calendar import SESSION_SECONDS, local_midnight, session_date, sessions_back
from stockpipe.contract import INTERVAL_SECONDS
from stockpipe.dashboard.base import DAY_SECONDS, DISPLAY_INTERVALS, can_roll_up

# Rolled-up bars fetched before the window so SMA 50 and MACD's signal are warm at its start.
LOOKBACK_BARS = 60
INDICATORS = (
    "sma_20",
    "sma_50",
    "ema_12",
    "ema_26",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
)


def available_intervals(stored: Iterable[str]) -> list[str]:
    """The display intervals that the stored intervals can make, finest first."""
    stored = list(stored)
    return [d for d in DISPLAY_INTERVALS if any(can_roll_up(s, d) for s in stored)]


def source_interval(display: str, stored: Iterable[str]) -> str | None:
    """The stored interval to build `display` bars from: the coarsest that adds up to it
    (fewest rows to read), or None when nothing stored can make it."""
    usable = [s for s in stored if can_roll_up(s, display)]
    if not usable:
        return None
    return max(usable, key=lambda s: INTERVAL_SECONDS[s])


def is_native(display: str, stored: str) -> bool:
    """Stored bars are already at the display interval: show them with their own indicators."""
    return INTERVAL_SECONDS.get(stored) == DISPLAY_INTERVALS.get(display)


def lookback_start(window_start: datetime, display: str) -> datetime:
    """Where to start reading so LOOKBACK_BARS rolled-up bars precede the window."""
    seconds = DISPLAY_INTERVALS[display]
    if seconds >= DAY_SECONDS:
        sessions = LOOKBACK_BARS
    else:
        sessions = math.ceil(LOOKBACK_BARS * seconds / SESSION_SECONDS)
    first = sessions_back(session_date(window_start), sessions + 1)
    return min(window_start, local_midnight(first))


def first_bucket(window_start: datetime, display: str) -> tuple[str, datetime]:
    """The (dt, ts) from which rolled-up bars are shown: the bucket holding the window start
    (its clock-aligned start, or for day bars its session date)."""
    seconds = DISPLAY_INTERVALS[display]
    if seconds >= DAY_SECONDS:
        return session_date(window_start).isoformat(), datetime.min.replace(tzinfo=UTC)
    floored = int(window_start.timestamp()) // seconds * seconds
    return "", datetime.fromtimestamp(floored, UTC)


def with_indicators(
    rows: list[dict[str, Any]], first: tuple[str, datetime]
) -> list[dict[str, Any]]:
    """One symbol's rolled-up bars (sorted by ts) with indicators, from `first` on
    (see first_bucket); the rows before it only warm the indicators up.

    Rows need ts (UTC datetime), dt, open, high, low, close, volume, vwap; the result adds
    INDICATORS and norm_close (100 at the first bar in the window).
    """
    import pandas as pd

    from stockpipe.processing.indicators import compute_indicators

    if not rows:
        return []
    frame = pd.DataFrame(rows)
    # A rolled-up bucket may mix sessions; the chart's indicators run over every bucket
    # shown (the session VWAP comes from SQL), so each counts as an indicator bar here.
    frame["session"] = "regular"
    values, _ = compute_indicators(frame[["dt", "session", "high", "low", "close", "volume"]])
    out: list[dict[str, Any]] = []
    first_close: float | None = None
    for i, row in enumerate(rows):
        if row["dt"] < first[0] or row["ts"] < first[1]:
            continue
        item = dict(row)
        for name in INDICATORS:
            item[name] = float(values[name].iloc[i])
        close = float(row["close"])
        if first_close is None:
            first_close = close
        item["norm_close"] = 100 * close / first_close if first_close else None
        out.append(item)
    return out
