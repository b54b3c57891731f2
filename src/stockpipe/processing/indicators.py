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

Every sum runs left to right over the same values whatever the batch, and the recursive
state is carried in `IndicatorState`, so resuming from a saved state is bit-identical to
one pass over the whole series: the incremental engine relies on this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from stockpipe.contract import BARS
from stockpipe.processing import _loops
from stockpipe.sources.calendar import EXCHANGE_TZ

# The recursive periods live with the compiled loops, which bake them in as constants.
FAST, SLOW, SIGNAL = _loops.FAST, _loops.SLOW, _loops.SIGNAL
RSI_PERIOD = _loops.RSI_PERIOD
BB_PERIOD, BB_DEV = 20, _loops.BB_DEV
SMA_PERIODS = (5, 20, 50)
# Closes a resumed series needs from before the batch: the longest window minus one.
CONTEXT = max(SMA_PERIODS) - 1
# Ordinal at which every recursive indicator has been seeded (MACD's signal line).
SEEDED_AT = _loops.SEEDED_AT
_EXCHANGE_ZONE = ZoneInfo(EXCHANGE_TZ)

INDICATOR_COLUMNS = (
    "change",
    "change_pct",
    "sma_5",
    "sma_20",
    "sma_50",
    "ema_12",
    "ema_26",
    "macd",
    "macd_signal",
    "macd_hist",
    "rsi_14",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "vwap",
    "session_high",
    "session_low",
)
STATE_COLUMNS = ("_n", "_ema_fast", "_avg_gain", "_avg_loss", "_cum_pv", "_cum_vol")


@dataclass(frozen=True)
class IndicatorState:
    """Everything needed to continue a series after its last bar (ordinal n - 1).

    Only states with n > SEEDED_AT can resume; earlier series are recomputed from their
    first bar instead, which costs at most SEEDED_AT bars.
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
    def from_rows(cls, rows: pd.DataFrame) -> IndicatorState:
        """The state after the last of `rows` (a computed series tail with state columns)."""
        last = rows.iloc[-1]
        n = int(last["_n"]) + 1
        return cls(
            n=n,
            closes=tuple(float(c) for c in rows["close"].to_numpy()[-min(n, CONTEXT) :]),
            ema_12=float(last["ema_12"]),
            ema_26=float(last["ema_26"]),
            ema_fast=float(last["_ema_fast"]),
            macd_signal=float(last["macd_signal"]),
            avg_gain=float(last["_avg_gain"]),
            avg_loss=float(last["_avg_loss"]),
            dt=str(last["dt"]),
            cum_pv=float(last["_cum_pv"]),
            cum_vol=float(last["_cum_vol"]),
            session_high=float(last["session_high"]),
            session_low=float(last["session_low"]),
        )

    @staticmethod
    def can_resume_from(rows: pd.DataFrame) -> bool:
        """True if `rows` (oldest first) hold enough history and state to resume after."""
        if rows.empty or any(c not in rows.columns for c in STATE_COLUMNS):
            return False
        last = rows.iloc[-1]
        if pd.isna(last["_n"]) or int(last["_n"]) < SEEDED_AT:
            return False
        if len(rows) < min(int(last["_n"]) + 1, CONTEXT):
            return False
        needed = ("ema_12", "ema_26", "macd_signal", "session_high", "session_low")
        return not any(pd.isna(last[c]) for c in needed + STATE_COLUMNS)


def session_dates(ts: pd.Series) -> pd.Series:
    """Exchange-local session date (YYYY-MM-DD) of UTC bar times."""
    stamps = pd.to_datetime(ts, utc=True)
    return stamps.dt.tz_convert(_EXCHANGE_ZONE).dt.strftime("%Y-%m-%d")


def compute_indicators(
    frame: pd.DataFrame, state: IndicatorState | None = None
) -> tuple[pd.DataFrame, IndicatorState]:
    """Indicators of `frame` (one series, sorted by ts), continuing `state` if given.

    `frame` needs columns dt, high, low, close, volume. Returns a DataFrame with the same
    index holding INDICATOR_COLUMNS + STATE_COLUMNS (NaN where TA-Lib has no value), and
    the state after the last row.
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
    n0 = 0 if state is None else state.n
    prior = np.asarray(state.closes if state else (), dtype=float)
    closes = np.concatenate([prior, close]) if len(prior) else close
    first = len(prior)

    if state is None:
        cur_dt = ""
        carry = np.array([math.nan] * 7 + [0.0, 0.0, math.nan, math.nan])
    else:
        cur_dt = state.dt
        carry = np.array(
            [float(prior[-1]), state.ema_12, state.ema_26, state.ema_fast, state.macd_signal,
             state.avg_gain, state.avg_loss, state.cum_pv, state.cum_vol, state.session_high,
             state.session_low]
        )  # fmt: skip
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
    _loops.recursive_pass(close, high, low, volume, new_session, closes, first, n0, carry,
                          rec, ordinal)  # fmt: skip
    columns: dict[str, np.ndarray] = dict(zip(_loops.RECURSIVE_ROWS, rec, strict=True))
    for period in SMA_PERIODS:
        columns[f"sma_{period}"] = mean = np.empty(count)
        _loops.rolling_mean(closes, first, period, mean)
    bands = {name: np.empty(count) for name in ("bb_upper", "bb_middle", "bb_lower")}
    _loops.rolling_bands(closes, first, BB_PERIOD, columns[f"sma_{BB_PERIOD}"], *bands.values())
    columns.update(bands)
    columns["_n"] = ordinal
    # copy=False keeps one block per column instead of stacking 23 columns into one.
    result = pd.DataFrame(
        {name: columns[name] for name in INDICATOR_COLUMNS + STATE_COLUMNS},
        index=frame.index,
        copy=False,
    )
    _prev, e12, e26, fast, signal, gain, loss, cum_pv, cum_vol, s_high, s_low = (
        float(v) for v in carry
    )
    new_state = IndicatorState(
        n=n0 + count,
        closes=tuple(float(c) for c in closes[-min(n0 + count, CONTEXT) :]),
        ema_12=e12,
        ema_26=e26,
        ema_fast=fast,
        macd_signal=signal,
        avg_gain=gain,
        avg_loss=loss,
        dt=cur_dt,
        cum_pv=cum_pv,
        cum_vol=cum_vol,
        session_high=s_high,
        session_low=s_low,
    )
    return result, new_state


def compute_series(pdf: pd.DataFrame) -> pd.DataFrame:
    """pandas in, pandas out, for one whole (symbol, interval) series (PySpark entry point).

    `pdf` holds the BARS input columns (symbol, interval, ts, open, high, low, close,
    volume, source, ingest_shard, ingest_seq), one row per ts, in any order. Returns
    exactly the BARS contract columns plus `dt`, sorted by ts.
    """
    frame = pdf.copy()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame = frame.sort_values("ts", kind="mergesort").reset_index(drop=True)
    frame["dt"] = session_dates(frame["ts"])
    for name in ("source", "ingest_shard", "ingest_seq"):
        if name not in frame.columns:
            frame[name] = None
    values, _ = compute_indicators(frame)
    for name in INDICATOR_COLUMNS:
        frame[name] = values[name]
    return frame[[*BARS.column_names, "dt"]]


def compute_daily(bars: pd.DataFrame, prev_close: float | None = None) -> pd.DataFrame:
    """One row per session of one series (bars sorted by ts, with dt and vwap).

    `prev_close` is the last close before the first session in `bars`, if known: the
    first session's change is measured against it.
    """
    if bars.empty:
        return pd.DataFrame(columns=["symbol", "interval", "dt", "open", "high", "low",
                                     "close", "volume", "vwap", "change", "change_pct",
                                     "bar_count"])  # fmt: skip
    grouped = bars.groupby("dt", sort=True)
    daily = pd.DataFrame(
        {
            "symbol": grouped["symbol"].first(),
            "interval": grouped["interval"].first(),
            "open": grouped["open"].first(),
            "high": grouped["high"].max(),
            "low": grouped["low"].min(),
            "close": grouped["close"].last(),
            "volume": grouped["volume"].sum().astype("int64"),
            # The session VWAP at the last bar is the whole session's VWAP.
            "vwap": grouped["vwap"].last(),
            "bar_count": grouped["close"].size().astype("int64"),
        }
    ).reset_index()
    previous = daily["close"].shift(1)
    if prev_close is not None and not math.isnan(prev_close):
        previous.iloc[0] = prev_close
    daily["change"] = daily["close"] - previous
    daily["change_pct"] = 100.0 * daily["change"] / previous
    return daily
