"""Each measure's named Athena query, run locally (DuckDB) on a fixture lake, against values
computed here in plain Python from the fixture rows, following the guide's definitions."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from powerbi_support import EXTRA_DAILY_SESSION, QUERIES, SESSIONS, fixture_bars, fixture_daily

from stockpipe.config import load_settings
from stockpipe.powerbi import MEASURES
from stockpipe.sql import reset_engines, run_named_query

WINDOWS = [
    (SESSIONS[0], SESSIONS[2]),
    (SESSIONS[1], SESSIONS[2]),
    (SESSIONS[0], SESSIONS[1]),
    (SESSIONS[2], SESSIONS[2]),
    (SESSIONS[1], EXTRA_DAILY_SESSION),
]
WINDOW_IDS = ["all-bar-sessions", "last-two", "first-two", "last-only", "through-daily-only-day"]


@pytest.fixture(scope="module")
def settings(fixture_lake: Path) -> Iterator[Any]:
    reset_engines()
    yield load_settings({"lake": str(fixture_lake)}).settings
    reset_engines()


def _bars(lo: str, hi: str) -> list[dict[str, Any]]:
    rows = [
        r
        for r in fixture_bars()
        if r["symbol"] == "AAPL" and r["interval"] == "1min" and lo <= r["dt"] <= hi
    ]
    return sorted(rows, key=lambda r: r["ts"])


def _days(lo: str, hi: str) -> list[dict[str, Any]]:
    rows = [r for r in fixture_daily() if r["symbol"] == "AAPL" and lo <= r["dt"] <= hi]
    return sorted(rows, key=lambda r: r["dt"])


def expected_last_price(lo: str, hi: str) -> float:
    return _bars(lo, hi)[-1]["close"]


def expected_change_pct(lo: str, hi: str) -> float:
    rows = _bars(lo, hi)
    first_open, last_close = rows[0]["open"], rows[-1]["close"]
    return 100 * (last_close - first_open) / first_open


def expected_session_vwap(lo: str, hi: str) -> float:
    rows = _bars(lo, hi)
    session = rows[-1]["dt"]
    today = [r for r in rows if r["dt"] == session]
    pv = sum((r["high"] + r["low"] + r["close"]) / 3 * r["volume"] for r in today)
    return pv / sum(r["volume"] for r in today)


def expected_total_volume(lo: str, hi: str) -> int:
    return sum(r["volume"] for r in _bars(lo, hi))


def expected_avg_daily_range_pct(lo: str, hi: str) -> float:
    ranges = [100 * (r["high"] - r["low"]) / r["open"] for r in _days(lo, hi)]
    return sum(ranges) / len(ranges)


def expected_volatility(lo: str, hi: str) -> float | None:
    closes = [r["close"] for r in _days(lo, hi)]
    returns = [math.log(b / a) for a, b in zip(closes, closes[1:], strict=False)]
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    var = sum((x - mean) ** 2 for x in returns) / (len(returns) - 1)
    return math.sqrt(var) * math.sqrt(252)


def expected_golden_crosses(lo: str, hi: str) -> int:
    # Bars without both averages are skipped: the previous bar is the previous one with both.
    count, prev = 0, None
    for r in _bars(lo, hi):
        cur = (r["sma_20"], r["sma_50"])
        if None in cur:
            continue
        if prev is not None and cur[0] > cur[1] and prev[0] <= prev[1]:
            count += 1
        prev = cur
    return count


EXPECTED = {
    "measure_last_price": (expected_last_price, True),
    "measure_change_pct": (expected_change_pct, True),
    "measure_session_vwap": (expected_session_vwap, True),
    "measure_total_volume": (expected_total_volume, True),
    "measure_avg_daily_range_pct": (expected_avg_daily_range_pct, False),
    "measure_volatility": (expected_volatility, False),
    "measure_golden_crosses": (expected_golden_crosses, True),
}


def test_every_measure_has_a_named_query_and_an_expectation() -> None:
    assert sorted(m.query for m in MEASURES) == sorted(EXPECTED)
    for m in MEASURES:
        assert (QUERIES / f"{m.query}.sql").is_file(), m.query


@pytest.mark.parametrize("window", WINDOWS, ids=WINDOW_IDS)
@pytest.mark.parametrize("query", sorted(EXPECTED))
def test_measure_query_matches_independent_value(
    settings: Any, query: str, window: tuple[str, str]
) -> None:
    compute, uses_interval = EXPECTED[query]
    lo, hi = window
    params = {"symbol": "AAPL", "from_dt": lo, "to_dt": hi}
    if uses_interval:
        params["interval"] = "1min"
    result = run_named_query(query, params, settings=settings, engine="duckdb")
    assert len(result.rows) == 1 and len(result.columns) == 1, result
    got = result.rows[0][0]
    want = compute(lo, hi)
    if want is None:
        assert got is None
    elif isinstance(want, int):
        assert got == want
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_golden_crosses_fixture_is_not_trivial() -> None:
    # Guards the fixture: the windows must disagree, or the test above proves little.
    counts = [expected_golden_crosses(lo, hi) for lo, hi in WINDOWS]
    assert counts == [5, 3, 3, 2, 3]


def test_volatility_fixture_has_windows_with_values() -> None:
    values = [expected_volatility(lo, hi) for lo, hi in WINDOWS]
    assert sum(v is not None for v in values) == 2


def test_volatility_of_the_whole_window_by_hand() -> None:
    # Closes 101.0 -> 103.4 -> 100.9: two log returns, sample stdev, annualised.
    r1, r2 = math.log(103.4 / 101.0), math.log(100.9 / 103.4)
    assert expected_volatility(SESSIONS[0], SESSIONS[2]) == pytest.approx(
        abs(r1 - r2) / math.sqrt(2) * math.sqrt(252)
    )


def test_empty_window_gives_no_value(settings: Any) -> None:
    params = {"symbol": "AAPL", "interval": "1min", "from_dt": "2030-01-01", "to_dt": "2030-01-31"}
    assert run_named_query(
        "measure_total_volume", params, settings=settings, engine="duckdb"
    ).rows == [(None,)]
    assert run_named_query(
        "measure_golden_crosses", params, settings=settings, engine="duckdb"
    ).rows == [(0,)]
    assert (
        run_named_query("measure_last_price", params, settings=settings, engine="duckdb").rows == []
    )
