"""The kernel against the industry reference, TA-Lib, on long random series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib
from processing_factories import processed_series, random_series

from stockpipe.calendar import session_of
from stockpipe.contract import BARS
from stockpipe.lake.local import LocalLake
from stockpipe.processing.base import HIDDEN_NAMES
from stockpipe.processing.indicators import (
    IndicatorState,
    compute_daily,
    compute_indicators,
)

REL = 1e-9


def assert_matches(ours: pd.Series, ref: np.ndarray, name: str) -> None:
    ours_arr = ours.to_numpy(dtype=float)
    assert np.array_equal(np.isnan(ours_arr), np.isnan(ref)), f"{name}: NULL pattern differs"
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(ours_arr[ok], ref[ok], rtol=REL, atol=0, err_msg=name)


@pytest.mark.parametrize("seed", [1, 2, 3], ids=["seed1", "seed2", "seed3"])
def test_indicators_match_talib(lake: LocalLake, seed: int) -> None:
    frame = processed_series(lake, random_series(seed))
    close = frame["close"].to_numpy(dtype=float)
    assert_matches(frame["sma_5"], talib.SMA(close, 5), "sma_5")
    assert_matches(frame["sma_20"], talib.SMA(close, 20), "sma_20")
    assert_matches(frame["sma_50"], talib.SMA(close, 50), "sma_50")
    assert_matches(frame["ema_12"], talib.EMA(close, 12), "ema_12")
    assert_matches(frame["ema_26"], talib.EMA(close, 26), "ema_26")
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    assert_matches(frame["macd"], macd, "macd")
    assert_matches(frame["macd_signal"], signal, "macd_signal")
    assert_matches(frame["macd_hist"], hist, "macd_hist")
    assert_matches(frame["rsi_14"], talib.RSI(close, 14), "rsi_14")
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0, 0)
    assert_matches(frame["bb_upper"], upper, "bb_upper")
    assert_matches(frame["bb_middle"], middle, "bb_middle")
    assert_matches(frame["bb_lower"], lower, "bb_lower")


def test_lookback_rows_are_null(lake: LocalLake) -> None:
    frame = processed_series(lake, random_series(7, 60))
    first_value = {
        "change": 1, "change_pct": 1, "sma_5": 4, "sma_20": 19, "sma_50": 49, "ema_12": 11,
        "ema_26": 25, "macd": 33, "macd_signal": 33, "macd_hist": 33, "rsi_14": 14,
        "bb_upper": 19, "bb_middle": 19, "bb_lower": 19, "vwap": 0, "session_high": 0,
    }  # fmt: skip
    for name, first in first_value.items():
        assert frame[name].iloc[:first].isna().all(), name
        assert frame[name].iloc[first:].notna().all(), name


def test_change_and_session_values(lake: LocalLake) -> None:
    raw = random_series(11, 800)
    frame = processed_series(lake, raw)
    close = raw["close"].to_numpy()
    np.testing.assert_allclose(frame["change"].iloc[1:], np.diff(close), rtol=REL)
    np.testing.assert_allclose(
        frame["change_pct"].iloc[1:], 100 * np.diff(close) / close[:-1], rtol=REL
    )
    # Independent session VWAP and running extremes with pandas group-wise cumsums.
    tp = (raw["high"] + raw["low"] + raw["close"]) / 3
    session = raw["ts"].dt.tz_convert("America/New_York").dt.date
    pv = (tp * raw["volume"]).groupby(session).cumsum()
    vol = raw["volume"].groupby(session).cumsum()
    expected = (pv / vol.where(vol > 0)).to_numpy()
    assert_matches(frame["vwap"], expected, "vwap")
    np.testing.assert_array_equal(frame["session_high"], raw["high"].groupby(session).cummax())
    np.testing.assert_array_equal(frame["session_low"], raw["low"].groupby(session).cummin())


def test_bars_arriving_shuffled_are_stored_in_ts_order(lake: LocalLake) -> None:
    frame = processed_series(lake, random_series(5, 100).sample(frac=1, random_state=1))
    # The file: the contract columns, then the hidden state (dt is the partition).
    assert list(frame.columns) == [*BARS.column_names, *HIDDEN_NAMES, "dt"]
    assert frame["ts"].is_monotonic_increasing
    assert set(frame["dt"]) == {"2026-03-02"}


@pytest.mark.parametrize("cut", [34, 50, 391, 2500], ids=lambda c: f"cut{c}")
def test_resuming_from_state_is_bit_identical(cut: int) -> None:
    frame = random_series(9, 3400)
    frame["dt"] = frame["ts"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
    # Real sessions: after the DST switch (2026-03-08) 14:30 UTC is 10:30 New York time,
    # so each day ends with an hour of post-market bars; the weekend's bars are closed.
    frame["session"] = session_of(frame["ts"], "1min")
    assert set(frame["session"]) == {"regular", "post", "closed"}
    whole, end = compute_indicators(frame)
    head, state = compute_indicators(frame.iloc[:cut])
    tail, end2 = compute_indicators(frame.iloc[cut:], state)
    pd.testing.assert_frame_equal(pd.concat([head, tail]), whole, check_exact=True)
    assert end2 == end


def test_resuming_too_early_is_refused() -> None:
    frame = random_series(9, 40)
    frame["dt"] = "2026-03-02"
    frame["session"] = "regular"
    _, state = compute_indicators(frame.iloc[:20])
    with pytest.raises(ValueError, match="recompute it from its first bar"):
        compute_indicators(frame.iloc[20:], state)
    assert not IndicatorState.can_resume_from(compute_indicators(frame.iloc[:20])[0])


def test_daily_against_pandas(lake: LocalLake) -> None:
    frame = processed_series(lake, random_series(4, 2000))
    daily = compute_daily(frame)
    # Monday 2026-03-02 to Friday 03-06 hold 390 regular bars each (14:30-21:00 UTC is
    # 09:30-16:00 EST); the last 50 bars fall on Saturday 03-07, which makes no row.
    weekdays = frame[frame["dt"] < "2026-03-07"]
    g = weekdays.groupby("dt")
    tp = (weekdays["high"] + weekdays["low"] + weekdays["close"]) / 3
    exp_vwap = (tp * weekdays["volume"]).groupby(weekdays["dt"]).sum() / g["volume"].sum()
    close = g["close"].last()
    assert list(daily["dt"]) == ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05",
                                 "2026-03-06"]  # fmt: skip
    np.testing.assert_allclose(daily["open"], g["open"].first())
    np.testing.assert_allclose(daily["vwap"], exp_vwap, rtol=REL)
    np.testing.assert_allclose(daily["change"].iloc[1:], np.diff(close), rtol=REL)
    assert np.isnan(daily["change"].iloc[0])
    assert list(daily["bar_count"]) == [390, 390, 390, 390, 390]
    assert list(daily["pre_volume"]) == list(daily["post_volume"]) == [0] * 5
