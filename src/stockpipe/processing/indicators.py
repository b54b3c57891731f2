"""THE indicator kernel: the math, written once, for the embedded engine and PySpark.

Input is one (symbol, interval) series sorted by ts. Conventions follow TA-Lib 0.6
(`talib.SMA/EMA/MACD/RSI/BBANDS`), operation for operation where the order of floating
point operations matters:
- EMA(n): first value at ordinal n-1 = SMA of the first n closes; then
  `ema = (close - ema) * k + ema` with k = 2 / (n + 1).
- MACD(12, 26, 9): both EMAs first exist at ordinal 25; the fast one is seeded with the
  SMA of closes[14..25]. The signal EMA(9) is seeded with the SMA of MACD[25..33], so
  macd, macd_signal and macd_hist are NULL before ordinal 33 (as TA-Lib returns NaN).
- RSI(14): Wilder smoothing, first value at ordinal 14; 0 when gains+losses ~ 0.
- BBANDS(20, 2, 2): middle = SMA(20), population sigma (0 below TA-Lib's 1e-8 variance).

Indicators run over the series' indicator bars: those whose `session` is one of the
chosen sessions (contract.DEFAULT_INDICATOR_SESSIONS: every bar). The other bars get NULL
indicators and leave the indicator state alone, so with a choice of `regular` the
indicators are exactly TA-Lib's over the regular-session closes. Session VWAP/high/low
take in regular-session bars only, whatever the choice.

Every sum runs left to right over the same values whatever the batch, and the recursive
state is carried in `IndicatorState`, so resuming from a saved state is bit-identical to
one pass over the whole series: the incremental engine relies on this.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from stockpipe.contract import DAILY, INDICATOR_COLUMNS, SESSIONS
from stockpipe.processing import _loops
from stockpipe.processing.base import (
    NEEDED_ON_INDICATOR,
    NEEDED_ON_LAST,
    ORDINAL,
    STATE_COLUMNS,
    STATE_SLOTS,
    StateSlot,
)

# The recursive periods live with the compiled loops, which bake them in as constants.
FAST, SLOW, SIGNAL = _loops.FAST, _loops.SLOW, _loops.SIGNAL
RSI_PERIOD = _loops.RSI_PERIOD
BB_PERIOD, BB_DEV = _loops.BB_PERIOD, _loops.BB_DEV
SMA_PERIODS = _loops.SMA_PERIODS
# Closes a resumed series needs from before the batch: the longest window minus one.
CONTEXT = max(SMA_PERIODS) - 1
# Ordinal at which every recursive indicator has been seeded (MACD's signal line).
SEEDED_AT = _loops.SEEDED_AT

# The carry of the compiled loops: the previous indicator close, then the state slots.
CARRY = ("prev", *(slot.name for slot in STATE_SLOTS))


def indicator_mask(session: pd.Series | np.ndarray, sessions: Sequence[str]) -> np.ndarray:
    """True for the bars whose session is one of `sessions` (the indicator bars)."""
    values = np.asarray(session, dtype=object)
    if tuple(sessions) == SESSIONS:
        return np.ones(len(values), dtype=bool)
    return np.isin(values, list(sessions))


@dataclass(frozen=True)
class IndicatorState:
    """Everything needed to continue a series after its last bar (ordinal n - 1).

    Only states with n > SEEDED_AT can resume; earlier series are recomputed from their
    first bar instead, which costs at most SEEDED_AT bars. The float fields between
    `closes` and the end are base.STATE_SLOTS (tests check the two agree).
    """

    n: int  # bars seen
    closes: tuple[float, ...]  # the last min(n, CONTEXT) closes, oldest first
    ema_12: float
    ema_26: float
    ema_fast: float
    macd_signal: float
    avg_gain: float
    avg_loss: float
    dt: str  # session of the last bar
    cum_pv: float
    cum_vol: float
    session_high: float
    session_low: float

    @classmethod
    def of(
        cls, n: int, closes: tuple[float, ...], dt: str, slots: Iterable[float]
    ) -> IndicatorState:
        """The state from its ordinal, closes, session date and STATE_SLOTS values."""
        values: dict[str, Any] = {
            slot.name: float(v) for slot, v in zip(STATE_SLOTS, slots, strict=True)
        }
        return cls(n=n, closes=closes, dt=dt, **values)

    @classmethod
    def from_rows(cls, rows: pd.DataFrame, sessions: Sequence[str] = SESSIONS) -> IndicatorState:
        """The state after the last of `rows` (a computed series tail with state columns)."""
        last = rows.iloc[-1]
        # `_n` of any bar is the ordinal of the last indicator bar up to it (-1: none yet).
        n = int(last[ORDINAL]) + 1
        use = indicator_mask(rows["session"], sessions)
        closes = rows["close"].to_numpy()[use]
        ind = rows[use].iloc[-1] if use.any() else None

        def value(slot: StateSlot) -> float:
            if slot.every_bar:
                return float(last[slot.column])
            return float(ind[slot.column]) if ind is not None else math.nan

        return cls.of(
            n,
            tuple(float(c) for c in closes[-min(n, CONTEXT) :]) if n else (),
            str(last["dt"]),
            (value(slot) for slot in STATE_SLOTS),
        )

    def carry(self) -> np.ndarray:
        """The compiled loops' carry (CARRY) that continues this state."""
        return np.array([self.closes[-1], *(getattr(self, s.name) for s in STATE_SLOTS)])

    @staticmethod
    def can_resume_from(rows: pd.DataFrame, sessions: Sequence[str] = SESSIONS) -> bool:
        """True if `rows` (oldest first) hold enough history and state to resume after."""
        if rows.empty or any(c not in rows.columns for c in (*STATE_COLUMNS, "session")):
            return False
        last = rows.iloc[-1]
        if any(pd.isna(last[c]) for c in NEEDED_ON_LAST) or int(last[ORDINAL]) < SEEDED_AT:
            return False
        use = indicator_mask(rows["session"], sessions)
        if int(use.sum()) < min(int(last[ORDINAL]) + 1, CONTEXT):
            return False
        ind = rows[use].iloc[-1]
        return not any(pd.isna(ind[c]) for c in NEEDED_ON_INDICATOR)


def compute_indicators(
    frame: pd.DataFrame,
    state: IndicatorState | None = None,
    sessions: Sequence[str] = SESSIONS,
) -> tuple[pd.DataFrame, IndicatorState]:
    """Indicators of `frame` (one series, sorted by ts), continuing `state` if given.

    `frame` needs columns dt, session, high, low, close, volume; `sessions` chooses the
    indicator bars. Returns a DataFrame with the same index holding INDICATOR_COLUMNS +
    STATE_COLUMNS (NaN where TA-Lib has no value), and the state after the last row.
    """
    if state is not None and state.n <= SEEDED_AT:
        raise ValueError(
            f"cannot resume a series at bar {state.n}: recompute it from its first bar"
        )
    count = len(frame)
    close = np.ascontiguousarray(frame["close"].to_numpy(dtype=float))
    high = np.ascontiguousarray(frame["high"].to_numpy(dtype=float))
    low = np.ascontiguousarray(frame["low"].to_numpy(dtype=float))
    # int64 volumes go in as they are (the loop converts each one as float() did), which
    # saves a float copy of the column.
    volume = frame["volume"].to_numpy()
    if volume.dtype != np.int64:
        volume = frame["volume"].to_numpy(dtype=float)
    volume = np.ascontiguousarray(volume)
    dts = frame["dt"].astype(str).to_numpy()
    session = frame["session"].to_numpy(dtype=object)
    use = indicator_mask(session, sessions)
    every = bool(use.all())
    regular = np.asarray(session == "regular", dtype=bool)
    n0 = 0 if state is None else state.n
    prior = np.asarray(state.closes if state else (), dtype=float)
    used = close if every else close[use]
    closes = np.concatenate([prior, used]) if len(prior) else used
    first = len(prior)

    if state is None:
        cur_dt = ""
        carry = np.array([math.nan, *(slot.start for slot in STATE_SLOTS)])
    else:
        cur_dt = state.dt
        carry = state.carry()
    # Session values restart where the exchange-local date differs from the bar before.
    new_session = np.empty(count, dtype=bool)
    if count:
        new_session[0] = dts[0] != cur_dt
        np.not_equal(dts[1:], dts[:-1], out=new_session[1:])
        cur_dt = str(dts[-1])

    # The compiled loops write every output position (NaN where TA-Lib has none), so
    # the arrays start uninitialised; one row per column, handed to pandas uncopied.
    rec = np.empty((len(_loops.RECURSIVE_ROWS), count))
    ordinal = np.empty(count, dtype=np.int64)
    _loops.recursive_pass(close, high, low, volume, new_session, use, regular, closes, first,
                          n0, carry, rec, ordinal)  # fmt: skip
    columns: dict[str, np.ndarray] = dict(zip(_loops.RECURSIVE_ROWS, rec, strict=True))
    # The window indicators run over the indicator bars only, then go back to their rows.
    windowed: dict[str, np.ndarray] = {}
    for period in SMA_PERIODS:
        windowed[f"sma_{period}"] = mean = np.empty(len(used))
        _loops.rolling_mean(closes, first, period, mean)
    bands = {name: np.empty(len(used)) for name in ("bb_upper", "bb_middle", "bb_lower")}
    _loops.rolling_bands(closes, first, BB_PERIOD, windowed[f"sma_{BB_PERIOD}"], *bands.values())
    windowed.update(bands)
    for name, values in windowed.items():
        if every:
            columns[name] = values
        else:
            columns[name] = np.full(count, math.nan)
            columns[name][use] = values
    columns[ORDINAL] = ordinal
    # copy=False keeps one block per column instead of stacking 23 columns into one.
    result = pd.DataFrame(
        {name: columns[name] for name in INDICATOR_COLUMNS + STATE_COLUMNS},
        index=frame.index,
        copy=False,
    )
    n = n0 + len(used)
    closes_after = tuple(float(c) for c in closes[-min(n, CONTEXT) :]) if n else ()
    new_state = IndicatorState.of(n, closes_after, cur_dt, carry[1:].tolist())
    return result, new_state


DAILY_COLUMNS = (*DAILY.column_names[:2], "dt", *DAILY.column_names[2:])


def session_totals(bars: pd.DataFrame, by: pd.Series) -> pd.DataFrame:
    """The daily aggregates of `bars` per value of `by` (a session date, or a series
    number when several series are stacked), sorted by it: open, high, low, close,
    volume, vwap and bar_count of its regular-session bars, then the volumes of its pre-
    and post-market bars. A group without a regular bar has no row.

    `bars` needs columns session, open, high, low, close, volume, vwap; each group's
    bars in ts order.
    """
    session = bars["session"]
    regular = session == "regular"
    grouped = bars[regular].groupby(by[regular], sort=True)
    totals = pd.DataFrame(
        {
            "open": grouped["open"].first(),
            "high": grouped["high"].max(),
            "low": grouped["low"].min(),
            "close": grouped["close"].last(),
            "volume": grouped["volume"].sum().astype("int64"),
            # The session VWAP at the last regular bar is the whole session's VWAP.
            "vwap": grouped["vwap"].last(),
            "bar_count": grouped["close"].size().astype("int64"),
        }
    )
    volume = bars["volume"].astype("int64")
    for name in ("pre", "post"):
        sums = volume[session == name].groupby(by[session == name]).sum()
        totals[f"{name}_volume"] = sums.reindex(totals.index, fill_value=0).astype("int64")
    return totals


def compute_daily(bars: pd.DataFrame, prev_close: float | None = None) -> pd.DataFrame:
    """One row per trading day of one series (bars sorted by ts, with dt, session, vwap).

    A row aggregates the day's regular-session bars; the day's pre- and post-market
    volumes go in columns of their own. A day without a regular bar (a weekend or holiday,
    or a trading day whose session has not started yet) has no row. `prev_close` is the
    last regular close before the first day in `bars`, if known: the first row's change
    is measured against it.
    """
    daily = session_totals(bars, bars["dt"])
    if daily.empty:
        return pd.DataFrame(columns=list(DAILY_COLUMNS))
    daily.insert(0, "symbol", bars["symbol"].iat[0])
    daily.insert(1, "interval", bars["interval"].iat[0])
    daily = daily.reset_index()
    previous = daily["close"].shift(1)
    if prev_close is not None and not math.isnan(prev_close):
        previous.iloc[0] = prev_close
    daily["change"] = daily["close"] - previous
    daily["change_pct"] = 100.0 * daily["change"] / previous
    return daily
