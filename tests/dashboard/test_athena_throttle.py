"""Issue 18, item 7: the dashboard on Athena caches its answers and bounds every partition.

Athena itself cannot run here, so the named queries run on DuckDB over a lake built by
the real pipeline (simulator -> stream -> process): the same SQL files Athena runs. The
test counts the queries a refreshing browser would cost, and checks that the literal
`dt` bounds the Athena mode adds change no answer.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from stockpipe.calendar import sessions_from
from stockpipe.config import load_settings
from stockpipe.dashboard.base import parse_filters
from stockpipe.dashboard.panels import DashboardData
from stockpipe.dashboard.throttle import QueryCache, athena_ttl
from stockpipe.lake.local import LocalLake
from stockpipe.pipeline.stages import run_ingest, run_process
from stockpipe.sources.simulator import MarketSimulator
from stockpipe.sql.catalog import get_named_query
from stockpipe.sql.duckdb import DuckDBEngine
from stockpipe.stream.local import LocalStream

SESSIONS = sessions_from(date(2026, 11, 23), 2)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("athena-dash")
    stream = LocalStream(root / "stream.db", shard_count=2)
    try:
        run_ingest(MarketSimulator(["AAPL", "MSFT"], SESSIONS, seed=3), stream)
        run_process(stream, LocalLake(root / "lake"))
    finally:
        stream.close()
    return root / "lake"


def _data(lake: Path, tmp_path: Path, sql: str):  # noqa: ANN202
    engine = DuckDBEngine(LocalLake(lake))
    calls: list[tuple[str, dict[str, str]]] = []

    def runner(name: str, params):  # noqa: ANN001, ANN202
        calls.append((name, dict(params)))
        query = get_named_query(name)
        return list(engine.execute(query.sql, query.bind(dict(params))).to_dicts())

    settings = load_settings(
        {"lake": str(lake), "home": str(tmp_path / "home"), "sql": sql}
    ).settings
    return DashboardData(settings, runner=runner, lake=LocalLake(lake)), calls, engine


def test_athena_answers_are_cached_and_every_query_is_bounded(lake, tmp_path) -> None:
    data, calls, engine = _data(lake, tmp_path, "athena")
    clock = Clock()
    data.cache = QueryCache(athena_ttl, clock=clock)
    filters = parse_filters({"window": "1d", "symbols": "AAPL,MSFT", "interval": "1min"})
    first = data.view(filters)
    names = [name for name, _ in calls]
    assert names == ["dashboard_last_session", "dashboard_catalog", "dashboard_kpis",
                     "dashboard_series", "dashboard_buckets"]  # fmt: skip
    params = dict(calls)
    last = SESSIONS[-1]
    assert params["dashboard_catalog"] == {"from_dt": (last - timedelta(days=35)).isoformat()}
    kpis = params["dashboard_kpis"]
    assert kpis["to_dt"] == (last + timedelta(days=1)).isoformat()
    assert kpis["from_dt"] == (last + timedelta(days=1) - timedelta(days=10)).isoformat()
    for name in ("dashboard_series", "dashboard_buckets"):
        assert params[name]["from_dt"] and params[name]["to_dt"], name

    # A browser refreshing every 5 s for a minute: no new query.
    for _ in range(11):
        clock.now += 5.0
        again = data.view(filters)
    assert len(calls) == 5
    assert {k: v for k, v in again.items() if k != "generated_at"} == {
        k: v for k, v in first.items() if k != "generated_at"
    }
    clock.now += 5.0  # 60 s after the first view: the window queries run again
    data.view(filters)
    assert [n for n, _ in calls[5:]] == ["dashboard_kpis", "dashboard_series", "dashboard_buckets"]
    clock.now = 300.0  # the catalog (and its bound) is refreshed every 5 minutes
    data.view(filters)
    assert [n for n, _ in calls[8:10]] == ["dashboard_last_session", "dashboard_catalog"]
    engine.close()


def test_the_bounds_change_no_answer_and_duckdb_is_not_cached(lake, tmp_path) -> None:
    athena, _, e1 = _data(lake, tmp_path, "athena")
    local, calls, e2 = _data(lake, tmp_path, "duckdb")
    filters = parse_filters({"window": "5d", "symbols": "AAPL,MSFT", "interval": "1min"})
    bounded, unbounded = athena.view(filters), local.view(filters)
    for key in ("catalog", "kpis", "series", "buckets", "window"):
        assert bounded[key] == unbounded[key], key
    assert bounded["kpis"] and bounded["series"]["AAPL"]["ts"]
    local.view(filters)
    assert [n for n, _ in calls].count("dashboard_catalog") == 2  # every refresh runs
    assert all(p == {} for n, p in calls if n == "dashboard_catalog")  # no bound locally
    e1.close()
    e2.close()
