"""The indicator kernel's loops, compiled with numba (see indicators.py for the math).

Every loop keeps the operation order of the pure-Python loops it replaces, so results are
bit-identical: no fastmath (it would allow FMA contraction and reassociation), sums left
to right, divisions where the Python code divides. Only the scheduling differs: window
sums run over blocks of outputs so the compiler can vectorise across outputs, which
leaves each output's own sum in its original order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

FAST, SLOW, SIGNAL = 12, 26, 9
RSI_PERIOD = 14
SMA_PERIODS = (5, 20, 50)
BB_PERIOD, BB_DEV = 20, 2.0  # the bands sit around SMA(BB_PERIOD), one of SMA_PERIODS
SEEDED_AT = SLOW - 1 + SIGNAL - 1
TA_EPSILON = 1e-8  # TA-Lib's TA_IS_ZERO / TA_IS_ZERO_OR_NEG threshold
_BLOCK = 512  # outputs per window block: the partial sums stay in L1

# Rows of the `rec` output of `recursive_pass`, in this order.
RECURSIVE_ROWS = (
    "change",
    "change_pct",
    "ema_12",
    "ema_26",
    "_ema_fast",
    "macd",
    "macd_signal",
    "macd_hist",
    "rsi_14",
    "_avg_gain",
    "_avg_loss",
    "vwap",
    "session_high",
    "session_low",
    "_cum_pv",
    "_cum_vol",
)
# The `carry` array (the recursive state going in and coming out) has the slots of
# indicators.CARRY: the previous close, then base.STATE_SLOTS in order.
# Rows of the `windows` output of `multi_pass`, in this order.
WINDOW_ROWS = (*(f"sma_{p}" for p in SMA_PERIODS), "bb_upper", "bb_middle", "bb_lower")
_N_WINDOWS = len(WINDOW_ROWS)
_BB_ROW = SMA_PERIODS.index(BB_PERIOD)  # the window row the bands sit around


def _compile(fn: Callable[..., Any], **options: Any) -> Any:
    # The on-disk cache needs a writable __pycache__ or user cache dir; without one (a
    # read-only install with no HOME) numba refuses cache=True, so compile per process.
    try:
        return njit(cache=True, **options)(fn)
    except RuntimeError:
        return njit(cache=False, **options)(fn)


def _rolling_mean(closes: np.ndarray, first: int, period: int, mean: np.ndarray) -> None:
    """mean[j] = SMA of closes[first + j - period + 1 .. first + j]; NaN if it would start
    before closes[0]. Each sum starts at its oldest close and adds left to right."""
    count = mean.shape[0]
    start = min(max(0, period - 1 - first), count)
    for j in range(start):
        mean[j] = math.nan
    acc = np.empty(_BLOCK)
    for b0 in range(start, count, _BLOCK):
        m = min(_BLOCK, count - b0)
        base = first + b0 - (period - 1)
        window = closes[base : base + m + period - 1]
        for t in range(m):
            acc[t] = window[t]
        # Four lags per sweep over the block: fewer loads and stores of acc, and each
        # output still adds its closes one at a time, oldest first.
        k = 1
        while k + 4 <= period:
            w0, w1, w2, w3 = window[k:], window[k + 1 :], window[k + 2 :], window[k + 3 :]
            for t in range(m):
                acc[t] = (((acc[t] + w0[t]) + w1[t]) + w2[t]) + w3[t]
            k += 4
        for rest in range(k, period):
            lag = window[rest:]
            for t in range(m):
                acc[t] += lag[t]
        out = mean[b0 : b0 + m]
        for t in range(m):
            out[t] = acc[t] / period


def _rolling_bands(
    closes: np.ndarray,
    first: int,
    period: int,
    mean: np.ndarray,
    upper: np.ndarray,
    middle: np.ndarray,
    lower: np.ndarray,
) -> None:
    """Bollinger bands around `mean` (rolling_mean's output for the same period) at BB_DEV
    population sigmas, 0 below TA-Lib's variance epsilon; squared deviations sum left to
    right like the closes."""
    count = mean.shape[0]
    start = min(max(0, period - 1 - first), count)
    for j in range(start):
        upper[j] = middle[j] = lower[j] = math.nan
    sq = np.empty(_BLOCK)
    for b0 in range(start, count, _BLOCK):
        m = min(_BLOCK, count - b0)
        base = first + b0 - (period - 1)
        window = closes[base : base + m + period - 1]
        mu = mean[b0 : b0 + m]
        for t in range(m):
            sq[t] = 0.0
        k = 0
        while k + 4 <= period:
            w0, w1, w2, w3 = window[k:], window[k + 1 :], window[k + 2 :], window[k + 3 :]
            for t in range(m):
                d0, d1, d2, d3 = w0[t] - mu[t], w1[t] - mu[t], w2[t] - mu[t], w3[t] - mu[t]
                sq[t] = (((sq[t] + d0 * d0) + d1 * d1) + d2 * d2) + d3 * d3
            k += 4
        for rest in range(k, period):
            lag = window[rest:]
            for t in range(m):
                d = lag[t] - mu[t]
                sq[t] += d * d
        for t in range(m):
            var = sq[t] / period
            sigma = 0.0 if var < TA_EPSILON else math.sqrt(var)
            dev = sigma * BB_DEV
            middle[b0 + t] = mu[t]
            upper[b0 + t] = mu[t] + dev
            lower[b0 + t] = mu[t] - dev


def _recursive_pass(
    close: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    volume: np.ndarray,
    new_session: np.ndarray,
    use: np.ndarray,
    regular: np.ndarray,
    closes: np.ndarray,
    first: int,
    n0: int,
    carry: np.ndarray,
    rec: np.ndarray,
    ordinal: np.ndarray,
) -> None:
    """Change, EMA(12/26), MACD(12,26,9), RSI(14) and session VWAP/high/low, one bar at a
    time in TA-Lib's operation order; `carry` holds the state in and is updated in place.

    `use[i]` is True for an indicator bar: only those advance the indicators (the others
    get NaN and `ordinal` = the last indicator bar's, -1 before the first). `closes` is
    the prior context closes followed by the indicator bars' closes (the j-th indicator
    bar of this call is closes[first + j]). `new_session[i]` is True where bar i starts
    another exchange-local day; `regular[i]` where it belongs to the regular session,
    the only bars the session VWAP/high/low take in.
    """
    prev, e12, e26, fast, signal, gain, loss, cum_pv, cum_vol, s_high, s_low = (
        carry[0], carry[1], carry[2], carry[3], carry[4], carry[5], carry[6],
        carry[7], carry[8], carry[9], carry[10],
    )  # fmt: skip
    k12, k26, k9 = 2.0 / (FAST + 1), 2.0 / (SLOW + 1), 2.0 / (SIGNAL + 1)  # TA-Lib PER_TO_K
    macd_seed = np.empty(SIGNAL)
    nan = math.nan
    j = -1  # indicator bars of this call so far, minus one
    for i in range(close.shape[0]):
        if not use[i]:
            ordinal[i] = n0 + j
            for r in range(11):
                rec[r, i] = nan
        else:
            j += 1
            g = n0 + j
            ordinal[i] = g
            x = close[i]
            at = first + j  # this bar's position in `closes`
            if g > 0:
                change = x - prev
                rec[0, i] = change
                rec[1, i] = 100.0 * change / prev
            else:
                rec[0, i] = rec[1, i] = nan
            if g == FAST - 1:
                total = 0.0
                for c in closes[at - FAST + 1 : at + 1]:
                    total += c
                e12 = total / FAST
            elif g >= FAST:
                e12 = ((x - e12) * k12) + e12
            if g == SLOW - 1:
                total = 0.0
                for c in closes[at - SLOW + 1 : at + 1]:
                    total += c
                e26 = total / SLOW
                total = 0.0
                for c in closes[at - FAST + 1 : at + 1]:
                    total += c
                fast = total / FAST
            elif g >= SLOW:
                e26 = ((x - e26) * k26) + e26
                fast = ((x - fast) * k12) + fast
            rec[2, i] = e12 if g >= FAST - 1 else nan
            if g >= SLOW - 1:
                rec[3, i] = e26
                rec[4, i] = fast
                macd = fast - e26
                if g < SEEDED_AT:
                    macd_seed[g - (SLOW - 1)] = macd
                elif g == SEEDED_AT:
                    macd_seed[SIGNAL - 1] = macd
                    total = 0.0
                    for m in macd_seed:
                        total += m
                    signal = total / SIGNAL
                else:
                    signal = ((macd - signal) * k9) + signal
                if g >= SEEDED_AT:
                    rec[5, i] = macd
                    rec[6, i] = signal
                    rec[7, i] = macd - signal
                else:
                    rec[5, i] = rec[6, i] = rec[7, i] = nan
            else:
                rec[3, i] = rec[4, i] = nan
                rec[5, i] = rec[6, i] = rec[7, i] = nan
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
                rec[8, i] = 100.0 * (gain / total) if not -TA_EPSILON < total < TA_EPSILON else 0.0
                rec[9, i] = gain
                rec[10, i] = loss
            else:
                rec[8, i] = rec[9, i] = rec[10, i] = nan
            prev = x
        # Session values restart with each exchange-local date and take in regular bars
        # only: NaN before the day's first regular bar, the day's final values after its
        # last. Comparisons as Python's max()/min() make them, so a NaN high or low never
        # replaces the running value.
        if new_session[i]:
            cum_pv, cum_vol, s_high, s_low = 0.0, 0.0, nan, nan
        if regular[i]:
            h, lo = high[i], low[i]
            if math.isnan(s_high) and math.isnan(s_low):
                s_high, s_low = h, lo
            else:
                if h > s_high:
                    s_high = h
                if lo < s_low:
                    s_low = lo
            vol = float(volume[i])
            cum_pv += ((h + lo + close[i]) / 3.0) * vol
            cum_vol += vol
        rec[11, i] = cum_pv / cum_vol if cum_vol > 0 else nan
        rec[12, i] = s_high
        rec[13, i] = s_low
        rec[14, i] = cum_pv
        rec[15, i] = cum_vol
    carry[0], carry[1], carry[2], carry[3], carry[4], carry[5] = prev, e12, e26, fast, signal, gain
    carry[6], carry[7], carry[8], carry[9], carry[10] = loss, cum_pv, cum_vol, s_high, s_low


def _multi_pass(
    bars: np.ndarray,
    flags: np.ndarray,
    rows_at: np.ndarray,
    closes: np.ndarray,
    closes_at: np.ndarray,
    first: np.ndarray,
    n0: np.ndarray,
    carry: np.ndarray,
    rec: np.ndarray,
    ordinal: np.ndarray,
    windows: np.ndarray,
) -> None:
    """`recursive_pass` and the window indicators of several series stacked end to end,
    each series through the same per-series loops as one series alone (so bit-identical).

    `bars` holds the rows' close, high, low and volume (floats), `flags` their
    new_session, use and regular (recursive_pass's arguments of those names), one row
    each. Series s has the rows rows_at[s]:rows_at[s + 1] of them, the closes
    closes_at[s]:closes_at[s + 1] (its first[s] prior closes, then its indicator bars'),
    its ordinal n0[s] and its carry row carry[s] (updated in place). `windows` gets
    WINDOW_ROWS per row, NaN on the bars that are not indicator bars.
    """
    nan = math.nan
    for s in range(rows_at.shape[0] - 1):
        lo, hi = rows_at[s], rows_at[s + 1]
        cl = closes[closes_at[s] : closes_at[s + 1]]
        f = first[s]
        recursive_pass(bars[0, lo:hi], bars[1, lo:hi], bars[2, lo:hi], bars[3, lo:hi],
                       flags[0, lo:hi], flags[1, lo:hi], flags[2, lo:hi], cl, f, n0[s],
                       carry[s], rec[:, lo:hi], ordinal[lo:hi])  # fmt: skip
        out = np.empty((_N_WINDOWS, cl.shape[0] - f))
        for k in range(len(SMA_PERIODS)):
            rolling_mean(cl, f, SMA_PERIODS[k], out[k])
        rolling_bands(cl, f, BB_PERIOD, out[_BB_ROW], out[-3], out[-2], out[-1])
        j = 0
        for i in range(lo, hi):
            if flags[1, i]:
                windows[:, i] = out[:, j]
                j += 1
            else:
                windows[:, i] = nan


# Division by a zero previous close raises ZeroDivisionError, as the Python loop did.
recursive_pass = _compile(_recursive_pass, error_model="python")
# Window divisors are periods (never zero): numpy's error model lets the loops vectorise.
rolling_mean = _compile(_rolling_mean, error_model="numpy")
rolling_bands = _compile(_rolling_bands, error_model="numpy")
# Calls the three above, each compiled with its own options.
multi_pass = _compile(_multi_pass, error_model="python")
