"""Vectorised indicators for building large fixtures (tens of millions of bars) in minutes.

The engine's kernel steps bar by bar in Python (~6-20 us a bar here), so a one-year,
500-symbol history would take hours. This module computes the same definitions with
pandas rolling windows and seeded exponential smoothing (TA-Lib's seeds: an SMA of the
first window), so values agree with the kernel to rounding (tests/bench checks 1e-9);
only the order of floating point operations differs. Session values (VWAP, session
high/low, change) are exact. Used only by bench/fixtures.py, never by the pipeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_TA_EPSILON = 1e-8


def _seeded_ema(x: np.ndarray, alpha: float, period: int, first: int) -> np.ndarray:
    """y[first + period - 1] = mean(x[first : first + period]); then y = y + alpha (x - y)."""
    out = np.full(len(x), np.nan)
    at = first + period - 1
    if at >= len(x):
        return out
    seed = x[first : first + period].mean()
    z = np.concatenate([[seed], x[at + 1 :]])
    out[at:] = pd.Series(z).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def indicators(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Indicator and state columns of one whole series (sorted by ts, columns dt, high,
    low, close, volume), named like the kernel's INDICATOR_COLUMNS + STATE_COLUMNS."""
    close = frame["close"].to_numpy(dtype=float)
    high = frame["high"].to_numpy(dtype=float)
    low = frame["low"].to_numpy(dtype=float)
    volume = frame["volume"].to_numpy(dtype=float)
    n = len(close)
    s = pd.Series(close)
    out: dict[str, np.ndarray] = {}
    prev = np.concatenate([[np.nan], close[:-1]])
    out["change"] = close - prev
    out["change_pct"] = 100.0 * out["change"] / prev
    for period in (5, 20, 50):
        out[f"sma_{period}"] = s.rolling(period).mean().to_numpy()
    var = s.rolling(20).var(ddof=0).to_numpy()
    sigma = np.where(var < _TA_EPSILON, 0.0, np.sqrt(np.where(var > 0, var, 0.0)))
    out["bb_middle"] = out["sma_20"].copy()
    out["bb_upper"] = out["sma_20"] + 2.0 * sigma
    out["bb_lower"] = out["sma_20"] - 2.0 * sigma
    out["ema_12"] = _seeded_ema(close, 2 / 13, 12, 0)
    out["ema_26"] = _seeded_ema(close, 2 / 27, 26, 0)
    fast = _seeded_ema(close, 2 / 13, 12, 14)  # MACD's fast EMA starts with the slow one
    macd = fast - out["ema_26"]
    signal = np.full(n, np.nan)
    if n > 33:
        signal = _seeded_ema(np.nan_to_num(macd), 2 / 10, 9, 25)
    out["macd"] = np.where(np.arange(n) >= 33, macd, np.nan)
    out["macd_signal"] = signal
    out["macd_hist"] = out["macd"] - signal
    out["_ema_fast"] = fast
    diff = np.concatenate([[0.0], np.diff(close)])
    gain = _seeded_ema(np.where(diff > 0, diff, 0.0), 1 / 14, 14, 1)
    loss = _seeded_ema(np.where(diff < 0, -diff, 0.0), 1 / 14, 14, 1)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        rsi = np.where(np.abs(total) < _TA_EPSILON, 0.0, 100.0 * gain / total)
    out["rsi_14"] = np.where(np.isnan(total), np.nan, rsi)
    out["_avg_gain"], out["_avg_loss"] = gain, loss
    typical = (high + low + close) / 3.0 * volume
    groups = frame["dt"].to_numpy()
    cum_pv = pd.Series(typical).groupby(groups).cumsum().to_numpy()
    cum_vol = pd.Series(volume).groupby(groups).cumsum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["vwap"] = np.where(cum_vol > 0, cum_pv / cum_vol, np.nan)
    out["session_high"] = pd.Series(high).groupby(groups).cummax().to_numpy()
    out["session_low"] = pd.Series(low).groupby(groups).cummin().to_numpy()
    out["_cum_pv"], out["_cum_vol"] = cum_pv, cum_vol
    out["_n"] = np.arange(n, dtype=np.int64)
    return out
