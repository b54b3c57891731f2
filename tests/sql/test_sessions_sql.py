"""The SQL consumers of the session semantics, on a lake the real engine built from
extended-hours bars around Thanksgiving 2026 (tests/conftest.py `extended_hours`).

Expected values come from the bars themselves with a hand-written NYSE rule for those
days (holiday and 13:00 early close written out), never from the SQL under test.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from stockpipe.lake.local import LocalLake
from stockpipe.processing.engine import Processor
from stockpipe.sql.catalog import get_named_query
from stockpipe.sql.duckdb import DuckDBEngine
from stockpipe.stream.base import StreamRecord

NEW_YORK = ZoneInfo("America/New_York")
CLOSES = {date(2026, 11, 24): time(16), date(2026, 11, 25): time(16), date(2026, 11, 27): time(13)}


def session(ts: datetime) -> str:
    local = ts.astimezone(NEW_YORK)
    close = CLOSES.get(local.date())
    if close is None:
        return "closed"  # Thanksgiving (11-26) and Saturday (11-28)
    if local.time() < time(9, 30):
        return "pre"
    return "regular" if local.time() < close else "post"


def day(ts: datetime) -> str:
    return ts.astimezone(NEW_YORK).date().isoformat()


@pytest.fixture
def bars(extended_hours):  # type: ignore[no-untyped-def]
    return extended_hours("XT", seed=3)


def build(root: Path, bars) -> DuckDBEngine:  # type: ignore[no-untyped-def]
    lake = LocalLake(root)
    arrival = datetime(2026, 11, 30, tzinfo=UTC)
    records = [
        StreamRecord("shardId-000000000000", str(i + 1), b.symbol, b.to_json(), arrival)
        for i, b in enumerate(bars)
    ]
    Processor(lake).process(records)
    return DuckDBEngine(lake)


def regular_on(bars, dt: str, until: datetime | None = None):  # type: ignore[no-untyped-def]
    return [
        b
        for b in bars
        if day(b.ts) == dt and session(b.ts) == "regular" and (until is None or b.ts <= until)
    ]


def test_latest_quotes_after_hours_use_the_regular_session(tmp_path, bars) -> None:
    # Up to Friday's after-hours: the last bar is 19:45 on the early-close day.
    upto = [b for b in bars if day(b.ts) <= "2026-11-27"]
    engine = build(tmp_path / "lake", upto)
    (row,) = engine.execute("SELECT * FROM latest_quotes").to_dicts()
    last = upto[-1]
    assert session(last.ts) == "post" and row["close"] == last.close
    friday, wednesday = regular_on(upto, "2026-11-27"), regular_on(upto, "2026-11-25")
    # Thanksgiving has no session: the reference is Wednesday's regular close.
    assert row["reference_price"] == wednesday[-1].close
    assert row["change"] == pytest.approx(last.close - wednesday[-1].close)
    assert row["session_volume"] == sum(b.volume for b in friday)
    assert row["session_high"] == max(b.high for b in friday)
    assert row["session_low"] == min(b.low for b in friday)
    tp = [(b.high + b.low + b.close) / 3 * b.volume for b in friday]
    assert row["vwap"] == pytest.approx(sum(tp) / sum(b.volume for b in friday), rel=1e-12)


def test_latest_quotes_on_a_closed_day_has_no_session_values(tmp_path, bars) -> None:
    engine = build(tmp_path / "lake", bars)
    (row,) = engine.execute("SELECT * FROM latest_quotes").to_dicts()
    assert row["dt"] == "2026-11-28" and row["close"] == bars[-1].close
    assert row["reference_price"] == regular_on(bars, "2026-11-27")[-1].close
    assert row["session_volume"] is None and row["vwap"] is None
    assert row["session_high"] is None and row["session_low"] is None


@pytest.mark.parametrize(
    ("local_to", "has_session"),
    [(datetime(2026, 11, 27, 11, 0), True), (datetime(2026, 11, 27, 8, 0), False)],
    ids=["mid-session", "pre-market"],
)
def test_dashboard_kpis_cover_the_regular_session(
    tmp_path, bars, local_to: datetime, has_session: bool
) -> None:
    engine = build(tmp_path / "lake", bars)
    to_ts = local_to.replace(tzinfo=NEW_YORK).astimezone(UTC)
    q = get_named_query("dashboard_kpis")
    when = to_ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    params = {"symbols": "XT", "interval": "15min", "to_ts": when, "to_dt": "2026-11-27"}
    (row,) = engine.execute(q.sql, q.bind(params)).to_dicts()
    last = [b for b in bars if b.ts <= to_ts][-1]
    wednesday_close = regular_on(bars, "2026-11-25")[-1].close
    assert (row["last_price"], row["session"]) == (last.close, "2026-11-27")
    assert row["reference_price"] == wednesday_close
    assert row["change_pct"] == pytest.approx(100 * (last.close / wednesday_close - 1))
    so_far = regular_on(bars, "2026-11-27", until=to_ts)
    if has_session:
        assert len(so_far) == 7  # 09:30 to 11:00 (to_ts is inclusive), 15-minute bars
        assert row["volume"] == sum(b.volume for b in so_far)
        assert row["session_high"] == max(b.high for b in so_far)
        assert row["session_low"] == min(b.low for b in so_far)
    else:
        assert so_far == []
        assert row["volume"] is None and row["session_high"] is None and row["vwap"] is None


def test_session_vwap_measure_and_volatility_view_use_regular_bars(tmp_path, bars) -> None:
    engine = build(tmp_path / "lake", bars)
    q = get_named_query("measure_session_vwap")
    params = {
        "symbol": "XT",
        "interval": "15min",
        "from_dt": "2026-11-24",
        "to_dt": "2026-11-28",
    }
    (got,) = engine.execute(q.sql, q.bind(params)).rows
    friday = regular_on(bars, "2026-11-27")  # the latest day with a regular session
    pv = sum((b.high + b.low + b.close) / 3 * b.volume for b in friday)
    assert got[0] == pytest.approx(pv / sum(b.volume for b in friday), rel=1e-12)

    rows = engine.execute(
        "SELECT dt, return_count, realized_volatility FROM volatility_ranking ORDER BY dt"
    ).to_dicts()
    assert [r["dt"] for r in rows] == ["2026-11-24", "2026-11-25", "2026-11-27"]
    for r in rows:
        closes = [b.close for b in regular_on(bars, r["dt"])]
        logs = [math.log(b / a) for a, b in zip(closes, closes[1:], strict=False)]
        assert r["return_count"] == len(logs)
        assert r["realized_volatility"] == pytest.approx(math.sqrt(sum(x * x for x in logs)))


def test_daily_views_see_only_trading_days(tmp_path, bars) -> None:
    engine = build(tmp_path / "lake", bars)
    got = engine.execute("SELECT dt, volume FROM volume_leaders ORDER BY dt").rows
    assert got == [
        (dt, sum(b.volume for b in regular_on(bars, dt)))
        for dt in ("2026-11-24", "2026-11-25", "2026-11-27")
    ]
