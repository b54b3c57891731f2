"""dashboard_kpis reads only recent partitions, picked from daily, yet stays exact when daily
misleads: on the fixture lake TSLA has a daily row for D2 but bars only on D1, so its last
bar and its (missing) previous session lie outside the pruned slice."""

from __future__ import annotations

import pytest
from sql_fixture_lake import D1, D2, SESSIONS, bar_ts, vwap_of, write_fixture_lake

from stockpipe.lake.local import LocalLake
from stockpipe.sql.catalog import get_named_query
from stockpipe.sql.duckdb import DuckDBEngine


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    lake: LocalLake = write_fixture_lake(tmp_path_factory.mktemp("kpis") / "lake")
    eng = DuckDBEngine(lake)
    yield eng
    eng.close()


def kpis(engine: DuckDBEngine, symbols: str, to_ts: str, to_dt: str) -> dict[str, dict]:
    q = get_named_query("dashboard_kpis")
    params = {"symbols": symbols, "interval": "1min", "to_ts": to_ts, "to_dt": to_dt}
    return {r["symbol"]: r for r in engine.execute(q.sql, q.bind(params)).to_dicts()}


def test_a_symbol_whose_daily_row_has_no_bars_still_gets_its_last_bar(engine) -> None:
    got = kpis(engine, "AAPL,TSLA", "2026-01-06T23:00:00Z", D2)
    assert sorted(got) == ["AAPL", "TSLA"]
    opens1, closes1, vols1 = SESSIONS[("TSLA", D1)]
    tsla = got["TSLA"]
    # TSLA's only session is D1: its reference is that session's first open.
    assert (tsla["session"], tsla["last_price"], tsla["reference_price"]) == (
        D1,
        closes1[-1],
        opens1[0],
    )
    assert tsla["last_ts"] == bar_ts(D1, 3)
    assert tsla["volume"] == sum(vols1)
    assert tsla["vwap"] == vwap_of(closes1[-1])
    aapl = got["AAPL"]
    closes2 = SESSIONS[("AAPL", D2)][1]
    prev = SESSIONS[("AAPL", D1)][1][-1]
    assert (aapl["session"], aapl["last_price"], aapl["reference_price"]) == (D2, closes2[-1], prev)
    assert aapl["change_pct"] == pytest.approx(100 * (closes2[-1] - prev) / prev)


def test_a_window_ending_before_the_session_opens_uses_the_earlier_session(engine) -> None:
    # 14:00 UTC on D2 is before D2's first bar: the last bar is D1's, with no earlier session.
    got = kpis(engine, "MSFT", "2026-01-06T14:00:00Z", D2)
    opens1, closes1, vols1 = SESSIONS[("MSFT", D1)]
    msft = got["MSFT"]
    assert (msft["session"], msft["last_price"], msft["reference_price"]) == (
        D1,
        closes1[-1],
        opens1[0],
    )
    assert msft["volume"] == sum(vols1)


def test_unknown_symbols_are_left_out(engine) -> None:
    assert list(kpis(engine, "NOPE,MSFT", "2026-01-06T23:00:00Z", D2)) == ["MSFT"]
