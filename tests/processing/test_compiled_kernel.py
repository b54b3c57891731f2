"""The numba-compiled kernel against the pure-Python loops it replaced, bit for bit.

`reference_indicators` is the kernel as it was before compilation (numpy windows, one
Python iteration per bar), kept verbatim apart from its return shape. Every output and
every state field must have the same bits, not merely agree within a tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import astuple

import numpy as np
import pandas as pd
import pytest
from processing_factories import random_series

from stockpipe import calendar
from stockpipe.processing import _loops
from stockpipe.processing.base import STATE_SLOTS
from stockpipe.processing.indicators import (
    BB_DEV,
    BB_PERIOD,
    CONTEXT,
    FAST,
    INDICATOR_COLUMNS,
    RSI_PERIOD,
    SEEDED_AT,
    SIGNAL,
    SLOW,
    SMA_PERIODS,
    STATE_COLUMNS,
    IndicatorState,
    compute_indicators,
)

_TA_EPSILON = 1e-8


def _k(period: int) -> float:
    return 2.0 / (period + 1)


def _seqsum(values: Iterable[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def _windows(
    closes: np.ndarray, first: int, count: int, period: int
) -> tuple[np.ndarray, np.ndarray]:
    mean = np.full(count, np.nan)
    var = np.full(count, np.nan)
    start = max(0, period - 1 - first)
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


def reference_indicators(
    frame: pd.DataFrame, state: IndicatorState | None = None
) -> tuple[dict[str, np.ndarray], tuple[object, ...]]:
    """The pre-numba kernel: output columns and the state after the last bar."""
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
    for i in range(count):
        g = n0 + i
        x = float(close[i])
        out["_n"][i] = g
        if g > 0:
            change = x - prev
            out["change"][i] = change
            out["change_pct"][i] = 100.0 * change / prev
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
            out["ema_12"][i] = e12
        if g >= SLOW - 1:
            out["ema_26"][i] = e26
            out["_ema_fast"][i] = fast
            macd = fast - e26
            if g < SEEDED_AT:
                macd_seed.append(macd)
            elif g == SEEDED_AT:
                signal = _seqsum([*macd_seed, macd]) / SIGNAL
            else:
                signal = ((macd - signal) * k9) + signal
            if g >= SEEDED_AT:
                out["macd"][i], out["macd_signal"][i] = macd, signal
                out["macd_hist"][i] = macd - signal
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
                zero = -_TA_EPSILON < total < _TA_EPSILON
                out["rsi_14"][i] = 100.0 * (gain / total) if not zero else 0.0
                out["_avg_gain"][i], out["_avg_loss"][i] = gain, loss
        h, lo = float(high[i]), float(low[i])
        if dts[i] != cur_dt:
            cur_dt, cum_pv, cum_vol, s_high, s_low = dts[i], 0.0, 0.0, h, lo
        else:
            s_high, s_low = max(s_high, h), min(s_low, lo)
        vol = float(volume[i])
        cum_pv += ((h + lo + x) / 3.0) * vol
        cum_vol += vol
        out["vwap"][i] = cum_pv / cum_vol if cum_vol > 0 else math.nan
        out["session_high"][i], out["session_low"][i] = s_high, s_low
        out["_cum_pv"][i], out["_cum_vol"][i] = cum_pv, cum_vol
        prev = x
    end = (n0 + count, tuple(float(c) for c in closes[-min(n0 + count, CONTEXT) :]),
           e12, e26, fast, signal, gain, loss, cur_dt, cum_pv, cum_vol, s_high, s_low)  # fmt: skip
    return out, end


def _bits(values: object) -> np.ndarray:
    """float64 bit patterns, with every NaN mapped to one pattern."""
    arr = np.array(values, dtype=float)
    arr[np.isnan(arr)] = np.nan
    return arr.view(np.int64)


def assert_bit_identical(
    got: tuple[pd.DataFrame, IndicatorState],
    want: tuple[dict[str, np.ndarray], tuple[object, ...]],
) -> None:
    frame, state = got
    columns, end = want
    assert list(frame.columns) == [*INDICATOR_COLUMNS, *STATE_COLUMNS]
    assert frame["_n"].dtype == np.int64
    for name in INDICATOR_COLUMNS + STATE_COLUMNS:
        np.testing.assert_array_equal(_bits(frame[name]), _bits(columns[name]), err_msg=name)
    fields = astuple(state)
    assert fields[0] == end[0] and fields[1] == end[1] and fields[8] == end[8]
    numbers = [i for i in range(len(end)) if i not in (0, 1, 8)]
    np.testing.assert_array_equal(_bits([fields[i] for i in numbers]),
                                  _bits([end[i] for i in numbers]))  # fmt: skip


def series(seed: int, n: int) -> pd.DataFrame:
    frame = random_series(seed, n)
    frame["dt"] = calendar.session_dates(frame["ts"])
    # The reference predates exchange sessions: its session values take in every bar of a
    # day, which is the kernel's behaviour when every bar is a regular-session bar.
    frame["session"] = "regular"
    return frame


@pytest.mark.parametrize("seed", [11, 12, 13], ids=["seed11", "seed12", "seed13"])
def test_compiled_kernel_is_bit_identical_to_python_loops(seed: int) -> None:
    frame = series(seed, 3000)
    frame.loc[frame.index[500:520], "volume"] = 0  # vwap undefined at a session start
    assert_bit_identical(compute_indicators(frame), reference_indicators(frame))


@pytest.mark.parametrize("n", [0, 1, 12, 26, 34, 50, 60], ids=lambda n: f"bars{n}")
def test_short_series_are_bit_identical(n: int) -> None:
    frame = series(14, 60).iloc[:n]
    assert_bit_identical(compute_indicators(frame), reference_indicators(frame))


@pytest.mark.parametrize("cut", [34, 35, 49, 50, 390, 2999], ids=lambda c: f"cut{c}")
def test_resumed_runs_are_bit_identical(cut: int) -> None:
    frame = series(15, 3000)
    _, state = compute_indicators(frame.iloc[:cut])
    assert_bit_identical(
        compute_indicators(frame.iloc[cut:], state), reference_indicators(frame.iloc[cut:], state)
    )


def test_float_volumes_and_flat_prices_are_bit_identical() -> None:
    frame = series(16, 1500)
    frame["volume"] = frame["volume"] * 0.5  # float path, not the int64 one
    frame.loc[frame.index[200:300], ["open", "high", "low", "close"]] = 42.0  # RSI total 0
    assert_bit_identical(compute_indicators(frame), reference_indicators(frame))


def test_zero_previous_close_still_raises() -> None:
    frame = series(17, 40)
    frame.loc[frame.index[10], "close"] = 0.0
    with pytest.raises(ZeroDivisionError):
        reference_indicators(frame)
    with pytest.raises(ZeroDivisionError):
        compute_indicators(frame)


def test_compiles_without_a_cache_where_numba_cannot_write_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stockpipe.processing import _loops

    real_njit = _loops.njit

    def njit(*, cache: bool, **options: object) -> object:
        if cache:  # what numba raises when no cache directory is writable
            raise RuntimeError("cannot cache function: no locator available for file")
        return real_njit(cache=False, **options)

    monkeypatch.setattr(_loops, "njit", njit)
    rolling_mean = _loops._compile(_loops._rolling_mean, error_model="numpy")
    mean = np.empty(4)
    rolling_mean(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), 2, 3, mean)
    np.testing.assert_array_equal(mean, [2.0, 3.0, 4.0, 5.0])


def test_several_stacked_series_are_bit_identical_to_one_series_at_a_time() -> None:
    """`_loops.multi_pass` (the append path's one call per batch) over three series: one
    from the empty state, one resumed, one short, with pre-market bars that are not
    indicator bars; each equals `compute_indicators` of that series alone."""
    a = series(17, 800)
    a.loc[a.index[390:400], "session"] = "pre"
    whole = series(18, 1200)
    _, state = compute_indicators(whole.iloc[:700], sessions=("regular",))
    b = whole.iloc[700:]
    c = series(19, 20)
    runs = [(a, None), (b, state), (c, None)]
    inputs = pd.concat([f for f, _ in runs], ignore_index=True)
    rows_at = np.cumsum([0, *(len(f) for f, _ in runs)])
    use = (inputs["session"] == "regular").to_numpy()
    prior = [np.asarray(s.closes if s else (), dtype=float) for _, s in runs]
    closes = np.concatenate(
        [x for p, (f, _) in zip(prior, runs, strict=True)
         for x in (p, f["close"].to_numpy()[(f["session"] == "regular").to_numpy()])]
    )  # fmt: skip
    closes_at = np.cumsum([0, *(len(p) + int((f["session"] == "regular").sum())
                                for p, (f, _) in zip(prior, runs, strict=True))])  # fmt: skip
    empty = [np.nan, *(slot.start for slot in STATE_SLOTS)]  # before a series' first bar
    carry = np.array([s.carry() if s else empty for _, s in runs])
    dts = inputs["dt"].astype(str).to_numpy()
    new_session = np.r_[True, dts[1:] != dts[:-1]]
    new_session[rows_at[1]] = dts[rows_at[1]] != state.dt
    n = len(inputs)
    rec, ordinal = np.empty((len(_loops.RECURSIVE_ROWS), n)), np.empty(n, dtype=np.int64)
    windows = np.empty((len(_loops.WINDOW_ROWS), n))
    _loops.multi_pass(
        inputs[["close", "high", "low", "volume"]].to_numpy(float).T.copy(),
        np.stack([new_session, use, use]), rows_at.astype(np.int64), closes,
        closes_at.astype(np.int64),
        np.array([len(p) for p in prior]), np.array([s.n if s else 0 for _, s in runs]),
        carry, rec, ordinal, windows,
    )  # fmt: skip
    got = {
        **dict(zip(_loops.RECURSIVE_ROWS, rec, strict=True)),
        **dict(zip(_loops.WINDOW_ROWS, windows, strict=True)),
        "_n": ordinal,
    }
    for k, (frame, start) in enumerate(runs):
        want, end = compute_indicators(frame, start, sessions=("regular",))
        lo, hi = rows_at[k], rows_at[k + 1]
        for name in INDICATOR_COLUMNS + STATE_COLUMNS:
            np.testing.assert_array_equal(_bits(got[name][lo:hi]), _bits(want[name]), name)
        np.testing.assert_array_equal(_bits(carry[k]), _bits(end.carry()))
