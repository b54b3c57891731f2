"""Issue 19 items 9 and 11 through the API: session windows, intervals rolled up by the
SQL layer (checked against pandas resample), a default interval per window, a hint for an
interval the lake cannot make, and an explicit empty selection."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from stockpipe.sql import run_named_query

pytestmark = pytest.mark.integration

NY = "America/New_York"
# The last five sessions of the week lake: Jan 1 is a holiday, Jan 3-4 a weekend.
LAST_FIVE = ["2025-12-30", "2025-12-31", "2026-01-02", "2026-01-05", "2026-01-06"]


@pytest.fixture(scope="module")
def week(week_lake):  # type: ignore[no-untyped-def]
    from stockpipe.dashboard import start_dashboard

    handle = start_dashboard(week_lake.settings, "127.0.0.1", 0, 5)
    client = httpx.Client(base_url=handle.url, timeout=60)
    yield client
    client.close()
    handle.stop()


def resample(df: pd.DataFrame, rule: str) -> pd.DataFrame:
    """OHLCV of one symbol's 1-minute bars with pandas: clock-aligned buckets, or one row
    per New York session date for "1d". The session VWAP at a bucket's last bar."""
    frame = df.set_index("ts")
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    agg["vwap"] = "last"
    if rule == "1d":
        out = frame.groupby(frame.index.tz_convert(NY).date).agg(agg)
        out.index = [d.isoformat() for d in out.index]
        return out
    out = frame.resample(rule, label="left", closed="left").agg(agg).dropna(subset=["open"])
    out.index = [ts.strftime("%Y-%m-%dT%H:%M:%SZ") for ts in out.index.tz_convert("UTC")]
    return out


@pytest.mark.parametrize(
    ("interval", "rule"),
    [("5m", "5min"), ("15m", "15min"), ("1h", "1h"), ("1d", "1d")],
)
def test_rolled_up_ohlcv_equals_a_pandas_resample(week, week_lake, interval, rule) -> None:  # type: ignore[no-untyped-def]
    body = week.get(
        "/api/view", params={"symbols": "AAPL,NVDA", "window": "all", "interval": interval}
    ).json()
    assert body["filters"]["interval"] == interval
    assert body["source_interval"] == "1min"
    for symbol in ("AAPL", "NVDA"):
        expected = resample(week_lake.frames[symbol], rule)
        got = body["series"][symbol]
        keys = got["dt"] if interval == "1d" else got["ts"]
        assert keys == list(expected.index)
        for field in ("open", "high", "low", "close", "vwap"):
            assert got[field] == pytest.approx(list(expected[field]), rel=1e-12), field
        assert got["volume"] == [int(v) for v in expected["volume"]]


def test_1d_is_one_bar_per_session_with_the_early_close(week, week_lake) -> None:  # type: ignore[no-untyped-def]
    body = week.get("/api/view", params={"symbols": "MSFT", "window": "all", "interval": "1d"})
    got = body.json()["series"]["MSFT"]
    assert got["dt"] == [
        "2025-12-24",
        "2025-12-26",
        "2025-12-29",
        "2025-12-30",
        "2025-12-31",
        "2026-01-02",
        "2026-01-05",
        "2026-01-06",
    ]
    df = week_lake.frames["MSFT"]
    christmas_eve = df[df["ts"] < pd.Timestamp("2025-12-25", tz="UTC")]
    assert len(christmas_eve) == 210  # 09:30-13:00 ET
    assert got["volume"][0] == int(christmas_eve["volume"].sum())
    assert got["close"][0] == christmas_eve["close"].iloc[-1]


def test_rolled_up_indicators_are_computed_over_the_rolled_up_bars(week, week_lake) -> None:  # type: ignore[no-untyped-def]
    # A 1-session window at 15m, with the sessions before it as lookback: SMA 20 of the
    # last 15-minute bar is the mean of the last 20 rolled-up closes, across sessions.
    body = week.get("/api/view", params={"symbols": "AAPL", "interval": "15m"}).json()
    got = body["series"]["AAPL"]
    assert set(got["dt"]) == {"2026-01-06"}
    closes = resample(week_lake.frames["AAPL"], "15min")["close"]
    assert got["sma_20"][-1] == pytest.approx(closes.iloc[-20:].mean(), rel=1e-12)
    assert got["sma_20"][0] == pytest.approx(closes.iloc[-len(got["ts"]) - 19 :].iloc[:20].mean())
    assert got["sma_50"][0] is not None and got["macd_signal"][0] is not None
    assert got["norm_close"][0] == pytest.approx(100.0)


def test_the_rollup_query_runs_on_the_sql_layer(week_lake) -> None:  # type: ignore[no-untyped-def]
    rows = run_named_query(
        "dashboard_rollup",
        {
            "bucket_seconds": "3600",
            "symbols": "MSFT",
            "interval": "1min",
            "from_ts": "2026-01-06T14:30:00Z",
            "to_ts": "2026-01-06T21:00:00Z",
            "from_dt": "2026-01-06",
            "to_dt": "2026-01-06",
        },
        settings=week_lake.settings,
    ).to_dicts()
    df = week_lake.frames["MSFT"]
    day = df[df["ts"] >= pd.Timestamp("2026-01-06T14:30:00Z")]
    # 09:30-16:00 ET: a half hour (09:30-09:59) and six whole clock hours.
    assert [r["bar_count"] for r in rows] == [30, 60, 60, 60, 60, 60, 60]
    assert sum(r["volume"] for r in rows) == int(day["volume"].sum())
    assert rows[0]["open"] == day["open"].iloc[0] and rows[-1]["close"] == day["close"].iloc[-1]


@pytest.mark.parametrize(
    ("window", "dates", "interval", "sessions"),
    [
        ("1d", ["2026-01-06"], "1m", 1),
        ("5d", LAST_FIVE, "5m", 5),
        # 21 sessions reach past the first bar: the window is clipped to the 8 there are.
        ("1m", ["2025-12-24", "2025-12-26", "2025-12-29", *LAST_FIVE], "1h", 8),
    ],
)
def test_windows_count_sessions_and_pick_a_default_interval(  # type: ignore[no-untyped-def]
    week, window, dates, interval, sessions
) -> None:
    body = week.get("/api/view", params={"symbols": "AAPL", "window": window}).json()
    assert body["filters"]["interval"] == interval and body["filters"]["interval_auto"]
    assert body["sessions"] == sessions
    assert sorted(set(body["series"]["AAPL"]["dt"])) == dates
    bars_per_session = {"1m": 390, "5m": 78, "1h": 7}[interval]
    early_close = 4 if interval == "1h" else 0  # Dec 24: 09:30-13:00 ET is 4 hourly bars
    expected = bars_per_session * (len(dates) - (1 if early_close else 0)) + early_close
    assert len(body["series"]["AAPL"]["ts"]) == expected


def test_five_sessions_start_at_new_york_midnight(week) -> None:  # type: ignore[no-untyped-def]
    body = week.get("/api/view", params={"symbols": "AAPL", "window": "5d"}).json()
    # Dec 30 00:00 EST, not Jan 1 (5 calendar days before Jan 6).
    assert body["window"] == {"from": "2025-12-30T05:00:00Z", "to": "2026-01-06T20:59:00Z"}


def test_every_interval_is_offered_from_one_minute_bars(week) -> None:  # type: ignore[no-untyped-def]
    body = week.get("/api/view").json()
    assert body["intervals"] == ["1m", "5m", "15m", "1h", "1d"]
    assert body["hint"] is None


def test_old_interval_names_still_work(week) -> None:  # type: ignore[no-untyped-def]
    body = week.get("/api/view", params={"symbols": "AAPL", "interval": "60min"}).json()
    assert body["filters"]["interval"] == "1h"


@pytest.fixture(scope="module")
def daily_only(daily_lake):  # type: ignore[no-untyped-def]
    from stockpipe.dashboard import start_dashboard

    handle = start_dashboard(daily_lake.settings, "127.0.0.1", 0, 5)
    yield handle
    handle.stop()


def test_an_interval_the_lake_cannot_make_gives_a_hint(daily_only) -> None:  # type: ignore[no-untyped-def]
    handle = daily_only
    body = httpx.get(handle.url + "api/view", params={"interval": "5m"}, timeout=60).json()
    assert body["intervals"] == ["1d"]
    assert body["series"] == {} and body["kpis"] == []
    assert body["hint"] == (
        "No 5m bars: the lake holds 1day bars for these symbols, which make 1d. "
        "Choose one of those intervals."
    )
    # Without an interval, the default (1m for one session) falls back to what exists.
    auto = httpx.get(handle.url + "api/view", timeout=60).json()
    assert auto["filters"]["interval"] == "1d" and auto["hint"] is None
    assert len(auto["series"]["AAPL"]["ts"]) == 1


def test_an_empty_selection_stays_empty(week) -> None:  # type: ignore[no-untyped-def]
    none = week.get("/api/view", params={"symbols": ""}).json()
    assert none["filters"]["symbols"] == []
    assert none["kpis"] == [] and none["series"] == {} and none["buckets"] == []
    defaults = week.get("/api/view").json()
    assert defaults["filters"]["symbols"] == ["AAPL", "MSFT", "NVDA"]
