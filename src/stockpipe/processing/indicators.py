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
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from stockpipe.contract import BARS
from stockpipe.sources.calendar import EXCHANGE_TZ

FAST, SLOW, SIGNAL = 12, 26, 9
RSI_PERIOD = 14
BB_PERIOD, BB_DEV = 20, 2.0
SMA_PERIODS = (5, 20, 50)
# Closes a resumed series needs from before the batch: the longest window minus one.
CONTEXT = max(SMA_PERIODS) - 1
# Ordinal at which every recursive indicator has been seeded (MACD's signal line).
SEEDED_AT = SLOW - 1 + SIGNAL - 1
_TA_EPSILON = 1e-8  # TA-Lib's TA_IS_ZERO / TA_IS_ZERO_OR_NEG threshold
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


def _k(period: int) -> float:
    return 2.0 / (period + 1)  # TA-Lib PER_TO_K


def _seqsum(values: Iterable[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


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


def _windows(
    closes: np.ndarray, first: int, count: int, period: int
) -> tuple[np.ndarray, np.ndarray]:
    """SMA and population variance of `period` closes ending at each of `count` outputs.

    `closes[first + j]` is the last close of output j's window; windows that would start
    before closes[0] give NaN. Sums run left to right, independent of the batch size.
    """
    mean = np.full(count, np.nan)
    var = np.full(count, np.nan)
    start = max(0, period - 1 - first)  # first output whose window fits
    m = count - start
    if m <= 0:
        return mean, var
    lo = first + start - (period - 1)
    total = closes[lo : lo + m].copy()
    for j in range(1, period):
        total += closes[lo + j : lo + j + m]
    mu = total / period
    sq = np.zeros(m)
    for j in range(period):
        d = closes[lo + j : lo + j + m] - mu
        sq += d * d
    mean[start:] = mu
    var[start:] = sq / period
    return mean, var


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
    close = frame["close"].to_numpy(dtype=float)
    high = frame["high"].to_numpy(dtype=float)
    low = frame["low"].to_numpy(dtype=float)
    volume = frame["volume"].to_numpy(dtype=float)
    dts = frame["dt"].astype(str).to_numpy()
    n0 = 0 if state is None else state.n
    prior = np.asarray(state.closes if state else (), dtype=float)
    closes = np.concatenate([prior, close])
    first = len(prior)

    out = {name: np.full(count, np.nan) for name in INDICATOR_COLUMNS + STATE_COLUMNS}
    for period in SMA_PERIODS:
        out[f"sma_{period}"], var = _windows(closes, first, count, period)
        if period == BB_PERIOD:
            sigma = np.where(var < _TA_EPSILON, 0.0, np.sqrt(np.where(var > 0, var, 0.0)))
            dev = sigma * BB_DEV
            out["bb_middle"] = out["sma_20"].copy()
            out["bb_upper"] = out["sma_20"] + dev
            out["bb_lower"] = out["sma_20"] - dev

    if state is None:
        prev = math.nan
        e12 = e26 = fast = signal = gain = loss = math.nan
        cur_dt, cum_pv, cum_vol, s_high, s_low = "", 0.0, 0.0, math.nan, math.nan
    else:
        prev = float(prior[-1])
        e12, e26, fast, signal = state.ema_12, state.ema_26, state.ema_fast, state.macd_signal
        gain, loss = state.avg_gain, state.avg_loss
        cur_dt, cum_pv, cum_vol = state.dt, state.cum_pv, state.cum_vol
        s_high, s_low = state.session_high, state.session_low
    k12, k26, k9 = _k(FAST), _k(SLOW), _k(SIGNAL)
    macd_seed: list[float] = []
    o_change, o_pct = out["change"], out["change_pct"]
    o_e12, o_e26, o_fast = out["ema_12"], out["ema_26"], out["_ema_fast"]
    o_macd, o_sig, o_hist = out["macd"], out["macd_signal"], out["macd_hist"]
    o_rsi, o_gain, o_loss = out["rsi_14"], out["_avg_gain"], out["_avg_loss"]
    o_vwap, o_high, o_low = out["vwap"], out["session_high"], out["session_low"]
    o_pv, o_vol, o_n = out["_cum_pv"], out["_cum_vol"], out["_n"]

    for i in range(count):
        g = n0 + i  # ordinal in the series
        x = float(close[i])
        o_n[i] = g
        if g > 0:
            change = x - prev
            o_change[i] = change
            o_pct[i] = 100.0 * change / prev
        # EMA(12) and EMA(26); the latter is also MACD's slow EMA (same seed window).
        if g == FAST - 1:
            e12 = _seqsum(closes[first + i - FAST + 1 : first + i + 1]) / FAST
        elif g >= FAST:
            e12 = ((x - e12) * k12) + e12
        if g == SLOW - 1:
            e26 = _seqsum(closes[first + i - SLOW + 1 : first + i + 1]) / SLOW
            fast = _seqsum(closes[first + i - FAST + 1 : first + i + 1]) / FAST
        elif g >= SLOW:
            e26 = ((x - e26) * k26) + e26
            fast = ((x - fast) * k12) + fast
        if g >= FAST - 1:
            o_e12[i] = e12
        if g >= SLOW - 1:
            o_e26[i] = e26
            o_fast[i] = fast
            macd = fast - e26
            if g < SEEDED_AT:
                macd_seed.append(macd)
            elif g == SEEDED_AT:
                signal = _seqsum([*macd_seed, macd]) / SIGNAL
            else:
                signal = ((macd - signal) * k9) + signal
            if g >= SEEDED_AT:
                o_macd[i], o_sig[i], o_hist[i] = macd, signal, macd - signal
        # RSI(14), Wilder, in TA-Lib's operation order.
        if g == 0:
            gain = loss = 0.0
        else:
            diff = x - prev
            if g > RSI_PERIOD:
                loss *= RSI_PERIOD - 1
                gain *= RSI_PERIOD - 1
            if diff < 0:
                loss -= diff
            else:
                gain += diff
            if g >= RSI_PERIOD:
                loss /= RSI_PERIOD
                gain /= RSI_PERIOD
                total = gain + loss
                o_rsi[i] = 100.0 * (gain / total) if not -_TA_EPSILON < total < _TA_EPSILON else 0.0
                o_gain[i], o_loss[i] = gain, loss
        # Session values restart with each exchange-local date.
        h, lo = float(high[i]), float(low[i])
        if dts[i] != cur_dt:
            cur_dt, cum_pv, cum_vol, s_high, s_low = dts[i], 0.0, 0.0, h, lo
        else:
            s_high, s_low = max(s_high, h), min(s_low, lo)
        vol = float(volume[i])
        cum_pv += ((h + lo + x) / 3.0) * vol
        cum_vol += vol
        o_vwap[i] = cum_pv / cum_vol if cum_vol > 0 else math.nan
        o_high[i], o_low[i], o_pv[i], o_vol[i] = s_high, s_low, cum_pv, cum_vol
        prev = x

    result = pd.DataFrame(out, index=frame.index)
    result["_n"] = result["_n"].astype("int64")
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
