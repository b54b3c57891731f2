"""Exchange sessions (issue 17 item 11): the `session` column, regular-session VWAP, high,
low and daily, no daily row off session days, and the choice of indicator bars.

Expected values are worked out here from first principles: a hand-written NYSE rule for
the Thanksgiving week of 2026 (holiday and early close written out), pandas group-wise
sums, and TA-Lib over the chosen closes. None of it calls the code under test.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import talib
from processing_factories import read_table, snapshot, to_records

from stockpipe import calendar
from stockpipe.contract import SESSIONS, parse_sessions
from stockpipe.errors import ConfigError
from stockpipe.lake.local import LocalLake
from stockpipe.processing.engine import Processor, reprocess

NEW_YORK = ZoneInfo("America/New_York")
HOLIDAYS = {date(2026, 11, 26)}  # Thanksgiving
EARLY_CLOSE = {date(2026, 11, 27): time(13, 0)}  # the day after closes at 13:00


def expected_session(ts: datetime) -> str:
    """The NYSE rule for these dates, by hand (15-minute bars start on the quarter hour)."""
    local = ts.astimezone(NEW_YORK)
    day = local.date()
    if day.weekday() >= 5 or day in HOLIDAYS:
        return "closed"
    if local.time() < time(9, 30):
        return "pre"
    return "regular" if local.time() < EARLY_CLOSE.get(day, time(16, 0)) else "post"


def frame_of(bars) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame([b.to_dict() for b in bars])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["dt"] = [t.astimezone(NEW_YORK).date().isoformat() for t in frame["ts"]]
    frame["session"] = [expected_session(t) for t in frame["ts"]]
    return frame


def payloads(bars) -> list[tuple[str, bytes]]:  # type: ignore[no-untyped-def]
    return [(b.symbol, b.to_json()) for b in bars]


def processed(tmp_path, bars, sessions=None, name="lake"):  # type: ignore[no-untyped-def]
    lake = LocalLake(tmp_path / name)
    Processor(lake, sessions).process(to_records(payloads(bars)))
    out = read_table(lake, "processed-data/bars").sort_values("ts").reset_index(drop=True)
    return lake, out


# --- the calendar --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utc", "interval", "want"),
    [
        ("2026-11-25 14:29", "1min", "pre"),  # 09:29 New York
        ("2026-11-25 14:30", "1min", "regular"),  # the open
        ("2026-11-25 20:59", "1min", "regular"),  # 15:59
        ("2026-11-25 21:00", "1min", "post"),  # the close
        ("2026-11-25 09:00", "1min", "pre"),  # 04:00, the start of pre-market
        ("2026-11-26 15:00", "1min", "closed"),  # Thanksgiving
        ("2026-11-27 17:59", "1min", "regular"),  # 12:59 on the early-close day
        ("2026-11-27 18:00", "1min", "post"),  # 13:00, its close
        ("2026-11-28 15:00", "1min", "closed"),  # Saturday
        ("2026-07-06 13:30", "1min", "regular"),  # 09:30 EDT (UTC-4) in summer
        ("2026-07-06 13:29", "1min", "pre"),
        ("2026-11-25 14:00", "60min", "regular"),  # 09:00-10:00 holds the open
        ("2026-11-25 13:00", "60min", "pre"),  # 08:00-09:00 ends before it
        ("2026-11-25 14:30", "1day", "regular"),  # a daily bar starts at the open
        ("2020-11-27 17:45", "15min", "regular"),  # the real half day of issue 17
        ("2020-11-27 18:00", "15min", "post"),
    ],
)
def test_session_of_follows_the_nyse_calendar(utc: str, interval: str, want: str) -> None:
    ts = pd.to_datetime([utc], utc=True)
    assert list(calendar.session_of(ts, interval)) == [want]


def test_session_dates_are_new_york_dates_across_dst() -> None:
    ts = pd.to_datetime(["2026-03-09 03:59", "2026-03-09 04:00", "2026-11-02 04:59"], utc=True)
    # 23:59 EDT on 03-08, 00:00 EDT on 03-09; 23:59 EST on 11-01.
    assert list(calendar.session_dates(ts)) == ["2026-03-08", "2026-03-09", "2026-11-01"]


def test_parse_sessions_accepts_all_or_a_choice_and_refuses_the_rest() -> None:
    assert parse_sessions("all") == SESSIONS
    assert parse_sessions(" Regular , pre") == ("pre", "regular")
    for bad in ("", "regular,overnight", "al"):
        with pytest.raises(ValueError, match="is not a choice of sessions"):
            parse_sessions(bad)


# --- bars: session column, session VWAP / high / low ---------------------------------


def test_bars_carry_the_session_and_regular_session_values(tmp_path, extended_hours) -> None:
    bars = extended_hours()
    _, got = processed(tmp_path, bars)
    want = frame_of(bars)
    assert list(got["session"]) == list(want["session"])
    counts = want["session"].value_counts().to_dict()
    assert counts == {"closed": 128, "pre": 66, "post": 60, "regular": 66}

    # Independent: cumulative sums over each day's regular bars, carried to its later bars.
    reg = want["session"] == "regular"
    tp = (want["high"] + want["low"] + want["close"]) / 3
    pv = (tp * want["volume"]).where(reg, 0.0).groupby(want["dt"]).cumsum()
    vol = want["volume"].where(reg, 0).groupby(want["dt"]).cumsum()
    vwap = (pv / vol.where(vol > 0)).to_numpy()
    high = want["high"].where(reg).groupby(want["dt"]).cummax().groupby(want["dt"]).ffill()
    low = want["low"].where(reg).groupby(want["dt"]).cummin().groupby(want["dt"]).ffill()
    np.testing.assert_allclose(got["vwap"], vwap, rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(got["session_high"], high.to_numpy())
    np.testing.assert_array_equal(got["session_low"], low.to_numpy())
    # Pre-market and closed-day bars have no regular session yet; post bars keep the
    # day's final regular values.
    none = want["session"].isin(["pre", "closed"]).to_numpy()
    assert got.loc[none, ["vwap", "session_high", "session_low"]].isna().all().all()
    post = want.index[(want["session"] == "post") & (want["dt"] == "2026-11-27")]
    last_regular = want.index[reg & (want["dt"] == "2026-11-27")][-1]
    assert (got.loc[post, "vwap"] == got.loc[last_regular, "vwap"]).all()


def test_daily_covers_the_regular_session_and_skips_days_without_one(
    tmp_path, extended_hours
) -> None:
    bars = extended_hours()
    lake, _ = processed(tmp_path, bars)
    daily = read_table(lake, "processed-data/daily").sort_values("dt").reset_index(drop=True)
    want = frame_of(bars)
    # Thanksgiving and the Saturday have bars but no daily row.
    assert list(daily["dt"]) == ["2026-11-24", "2026-11-25", "2026-11-27"]
    prev_close = np.nan
    for row in daily.itertuples():
        day = want[want["dt"] == row.dt]
        reg = day[day["session"] == "regular"]
        assert (row.open, row.close) == (reg["open"].iloc[0], reg["close"].iloc[-1])
        assert (row.high, row.low) == (reg["high"].max(), reg["low"].min())
        assert row.volume == reg["volume"].sum()
        assert row.bar_count == len(reg) == (14 if row.dt == "2026-11-27" else 26)
        assert row.pre_volume == day.loc[day["session"] == "pre", "volume"].sum()
        assert row.post_volume == day.loc[day["session"] == "post", "volume"].sum()
        tp = (reg["high"] + reg["low"] + reg["close"]) / 3
        assert row.vwap == pytest.approx((tp * reg["volume"]).sum() / reg["volume"].sum())
        # Change against the previous trading day's regular close (11-27 against 11-25).
        if np.isnan(prev_close):
            assert np.isnan(row.change)
        else:
            assert row.change == pytest.approx(row.close - prev_close)
            assert row.change_pct == pytest.approx(100 * (row.close - prev_close) / prev_close)
        prev_close = reg["close"].iloc[-1]


# --- the choice of indicator bars ------------------------------------------------------

_TALIB = {
    "sma_5": lambda c: talib.SMA(c, 5),
    "sma_20": lambda c: talib.SMA(c, 20),
    "ema_12": lambda c: talib.EMA(c, 12),
    "ema_26": lambda c: talib.EMA(c, 26),
    "macd": lambda c: talib.MACD(c, 12, 26, 9)[0],
    "macd_signal": lambda c: talib.MACD(c, 12, 26, 9)[1],
    "rsi_14": lambda c: talib.RSI(c, 14),
    "bb_upper": lambda c: talib.BBANDS(c, 20, 2.0, 2.0, 0)[0],
}


def _assert_talib(got: pd.DataFrame, mask: np.ndarray) -> None:
    closes = got.loc[mask, "close"].to_numpy(dtype=float)
    for name, ref in _TALIB.items():
        ours = got.loc[mask, name].to_numpy(dtype=float)
        want = ref(closes)
        assert np.array_equal(np.isnan(ours), np.isnan(want)), name
        ok = ~np.isnan(want)
        np.testing.assert_allclose(ours[ok], want[ok], rtol=1e-12, err_msg=name)
    change = np.diff(closes)
    np.testing.assert_allclose(got.loc[mask, "change"].to_numpy()[1:], change, rtol=1e-12)


def test_by_default_indicators_run_over_every_bar(tmp_path, extended_hours) -> None:
    lake, got = processed(tmp_path, extended_hours())
    _assert_talib(got, np.ones(len(got), dtype=bool))
    doc = json.loads(lake.read_bytes("_state/processing/contract.json"))
    assert doc == {"indicator_sessions": "all"}


def test_regular_only_indicators_skip_the_other_bars(tmp_path, extended_hours) -> None:
    lake, got = processed(tmp_path, extended_hours(), sessions=("regular",))
    regular = (got["session"] == "regular").to_numpy()
    _assert_talib(got, regular)
    columns = ["change", "sma_5", "ema_12", "macd", "rsi_14", "bb_upper"]
    assert got.loc[~regular, columns].isna().all().all()
    # The session values do not depend on the choice.
    _, every = processed(tmp_path, extended_hours(), name="every")
    for name in ("vwap", "session_high", "session_low"):
        np.testing.assert_array_equal(got[name], every[name])
    doc = json.loads(lake.read_bytes("_state/processing/contract.json"))
    assert doc == {"indicator_sessions": "regular"}


@pytest.mark.parametrize("sessions", [None, ("regular",), ("pre", "regular")])
def test_any_batching_equals_one_shot(tmp_path, extended_hours, sessions) -> None:
    """Incremental == one shot == reprocess, byte for byte, whatever the batches."""
    records = to_records(payloads(extended_hours()))
    one = LocalLake(tmp_path / "one")
    Processor(one, sessions).process(records)
    rng = random.Random(5)
    for trial in range(3):
        lake = LocalLake(tmp_path / f"split{trial}")
        proc = Processor(lake, sessions)
        # In order (the append fast path), then with some batches held back (late bars).
        cuts = [0, *sorted(rng.sample(range(1, len(records)), 9)), len(records)]
        batches = [records[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
        if trial:
            batches = [b for i, b in enumerate(batches) if i % 3] + batches[::3]
        for batch in batches:
            proc.process(batch)
        assert snapshot(lake) == snapshot(one)
    assert proc.fast_series > 0 and proc.general_series > 0
    # reprocess from the raw zone (what the live archiver kept) gives the same lake.
    from stockpipe.lake.raw import RawArchiver

    rebuilt = LocalLake(tmp_path / "rebuilt")
    RawArchiver(rebuilt).write(records)
    reprocess(rebuilt, indicator_sessions=sessions)
    processed_only = {p: b for p, b in snapshot(rebuilt).items() if not p.startswith("raw-")}
    assert processed_only == snapshot(one)


def test_a_different_choice_is_refused_until_reprocess(tmp_path, extended_hours) -> None:
    bars = extended_hours()
    lake, every = processed(tmp_path, bars[:200])
    records = to_records(payloads(bars[200:]), start=201)
    with pytest.raises(ConfigError) as err:
        Processor(lake, ("regular",)).process(records)
    message = str(err.value)
    assert "STOCKPIPE_INDICATOR_SESSIONS=regular" in message
    assert "stockpipe reprocess" in message and "=all" in message
    # Nothing was written by the refused batch.
    assert len(read_table(lake, "processed-data/bars")) == 200
    # Without a choice, the lake's recorded one is used.
    Processor(lake).process(records)
    assert len(read_table(lake, "processed-data/bars")) == 320


def test_reprocess_records_the_new_choice(tmp_path, extended_hours) -> None:
    from stockpipe.lake.raw import RawArchiver

    lake = LocalLake(tmp_path / "lake")
    records = to_records(payloads(extended_hours()))
    RawArchiver(lake).write(records)
    reprocess(lake)
    assert json.loads(lake.read_bytes("_state/processing/contract.json")) == {
        "indicator_sessions": "all"
    }
    reprocess(lake, indicator_sessions=("regular",))
    assert json.loads(lake.read_bytes("_state/processing/contract.json")) == {
        "indicator_sessions": "regular"
    }
    got = read_table(lake, "processed-data/bars").sort_values("ts")
    assert got.loc[got["session"] != "regular", "sma_5"].isna().all()
    assert got.loc[got["session"] == "regular", "sma_5"].notna().sum() == 66 - 4


def test_a_lake_from_before_sessions_is_refused_with_the_fix(tmp_path, extended_hours) -> None:
    lake, _ = processed(tmp_path, extended_hours()[:10])
    lake.delete("_state/processing/contract.json")  # as an older build left it
    with pytest.raises(ConfigError, match="without exchange sessions.*stockpipe reprocess"):
        Processor(lake).process(to_records(payloads(extended_hours()[10:20]), start=11))


def test_the_setting_is_read_validated_and_shown(cli, monkeypatch) -> None:
    from stockpipe.config import describe, load_settings

    assert load_settings().settings.indicator_sessions == SESSIONS
    monkeypatch.setenv("STOCKPIPE_INDICATOR_SESSIONS", "regular")
    loaded = load_settings()
    assert loaded.settings.indicator_sessions == ("regular",)
    assert ("STOCKPIPE_INDICATOR_SESSIONS", "regular", "env STOCKPIPE_INDICATOR_SESSIONS") in (
        describe(loaded)
    )
    monkeypatch.setenv("STOCKPIPE_INDICATOR_SESSIONS", "overnight")
    result = cli("config", "show")
    assert result.code == 2
    lines = [line for line in (result.err + result.out).splitlines() if line.strip()]
    assert len(lines) == 1 and "STOCKPIPE_INDICATOR_SESSIONS='overnight'" in lines[0]
    assert "Traceback" not in result.err


def test_arrival_time_is_not_the_session(tmp_path, extended_hours) -> None:
    """The session comes from the bar's own time, not from when it arrived."""
    bars = extended_hours()
    lake = LocalLake(tmp_path / "lake")
    records = to_records(payloads(bars))
    assert {r.arrival_ts.date() for r in records} == {datetime(2026, 3, 10, tzinfo=UTC).date()}
    Processor(lake).process(records)
    got = read_table(lake, "processed-data/bars")
    assert set(got["session"]) == {"pre", "regular", "post", "closed"}


def test_cli_reprocess_follows_the_setting_and_refuses_a_mismatch(
    cli, monkeypatch, tmp_path, extended_hours
) -> None:
    from stockpipe.lake.raw import RawArchiver

    lake = LocalLake(tmp_path / "lake")
    RawArchiver(lake).write(to_records(payloads(extended_hours())))
    monkeypatch.setenv("STOCKPIPE_INDICATOR_SESSIONS", "regular")
    done = cli("reprocess", "--engine", "local", "--lake", str(lake.root))
    assert done.code == 0, done.err
    assert json.loads(lake.read_bytes("_state/processing/contract.json")) == {
        "indicator_sessions": "regular"
    }
    # A date-range reprocess merges into the existing lake: a different choice is refused.
    monkeypatch.setenv("STOCKPIPE_INDICATOR_SESSIONS", "all")
    arrival = "2026-03-10"  # processing_factories.ARRIVAL0
    refused = cli("reprocess", "--lake", str(lake.root), "--from", arrival, "--to", arrival)
    assert refused.code == 2
    lines = [line for line in (refused.err + refused.out).splitlines() if line.strip()]
    assert len(lines) == 1 and "stockpipe reprocess" in lines[0], lines
    assert "STOCKPIPE_INDICATOR_SESSIONS=all" in lines[0] and "over regular" in lines[0]
    assert "Traceback" not in refused.err


def test_a_lost_series_index_is_rebuilt_with_closed_days(tmp_path, extended_hours) -> None:
    """Holiday and weekend bars have no daily row, so the index comes back from bars."""
    records = to_records(payloads(extended_hours()))
    one = LocalLake(tmp_path / "one")
    Processor(one).process(records)
    late = 64 + 40  # a regular bar on Wednesday 11-25, arriving after everything else
    lake = LocalLake(tmp_path / "lake")
    Processor(lake).process(records[:late] + records[late + 1 :])
    lake.delete("_state/processing/series.json")
    Processor(lake).process([records[late]])
    index = "_state/processing/series.json"
    data = {p: b for p, b in snapshot(lake).items() if p != index}
    assert data == {p: b for p, b in snapshot(one).items() if p != index}
