"""The queries rewritten onto the `latest` table return exactly what their old SQL over
bars returns (kept here as the oracle), on lakes the real engine built: extended-hours bars
with a holiday, two intervals, and bars arriving late and out of order."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stockpipe.lake.local import LocalLake
from stockpipe.processing.engine import Processor
from stockpipe.processing.latest import LATEST_FILE
from stockpipe.sql.catalog import get_named_query
from stockpipe.sql.duckdb import DuckDBEngine
from stockpipe.sql.transpile import to_duckdb
from stockpipe.stream.base import StreamRecord

# The latest_quotes view before the latest table (reads every bar).
OLD_LATEST_QUOTES = """
WITH ranked AS (
    SELECT
        symbol,
        "interval",
        dt,
        ts,
        open,
        high,
        low,
        close,
        volume,
        vwap,
        session_high,
        session_low,
        row_number() OVER (PARTITION BY symbol, "interval" ORDER BY ts DESC) AS rn
    FROM bars
),
last_bar AS (
    SELECT * FROM ranked WHERE rn = 1
),
day_open AS (
    SELECT b.symbol, b."interval", min_by(b.open, b.ts) AS first_open
    FROM bars AS b
    JOIN last_bar AS l
        ON b.symbol = l.symbol AND b."interval" = l."interval" AND b.dt = l.dt
    GROUP BY b.symbol, b."interval"
),
previous AS (
    SELECT l.symbol, l."interval", max_by(d.close, d.dt) AS prev_close
    FROM last_bar AS l
    JOIN daily AS d
        ON d.symbol = l.symbol AND d."interval" = l."interval" AND d.dt < l.dt
    GROUP BY l.symbol, l."interval"
)
SELECT
    r.symbol,
    r."interval",
    r.dt,
    r.ts,
    r.open,
    r.high,
    r.low,
    r.close,
    r.volume,
    t.volume AS session_volume,
    r.session_high,
    r.session_low,
    r.vwap,
    coalesce(p.prev_close, t.open, o.first_open) AS reference_price,
    r.close - coalesce(p.prev_close, t.open, o.first_open) AS change,
    100 * (r.close - coalesce(p.prev_close, t.open, o.first_open))
        / nullif(coalesce(p.prev_close, t.open, o.first_open), 0) AS change_pct
FROM last_bar AS r
JOIN day_open AS o ON o.symbol = r.symbol AND o."interval" = r."interval"
LEFT JOIN daily AS t
    ON t.symbol = r.symbol AND t."interval" = r."interval" AND t.dt = r.dt
LEFT JOIN previous AS p ON p.symbol = r.symbol AND p."interval" = r."interval"
"""

# dashboard_catalog before the latest table.
OLD_DASHBOARD_CATALOG = """
SELECT
    symbol,
    "interval",
    min(ts) AS first_ts,
    max(ts) AS last_ts,
    count(*) AS bar_count
FROM bars
WHERE dt >= ?
GROUP BY symbol, "interval"
ORDER BY symbol, "interval"
"""

# latest_kpis over the old view, as the query file still reads it.
OLD_LATEST_KPIS = get_named_query("latest_kpis").sql.replace(
    "FROM latest_quotes", f"FROM ({OLD_LATEST_QUOTES}) AS latest_quotes"
)


def _series(extended_hours) -> list:  # type: ignore[no-untyped-def]
    bars = extended_hours("XT", seed=3) + extended_hours("YZ", seed=8)
    # Coarser bars of XT as a second interval: every fourth 15-minute bar as 60min.
    return bars + [replace(b, interval="60min") for b in bars[:320:4]]


@pytest.fixture
def engine(tmp_path: Path, extended_hours) -> DuckDBEngine:  # type: ignore[no-untyped-def]
    return _engine(tmp_path, _series(extended_hours))


def _engine(tmp_path: Path, bars: list) -> DuckDBEngine:
    arrival = datetime(2026, 11, 30, tzinfo=UTC)
    records = [
        StreamRecord("shardId-000000000000", str(i + 1), b.symbol, b.to_json(), arrival)
        for i, b in enumerate(bars)
    ]
    lake = LocalLake(tmp_path / "lake")
    processor = Processor(lake)
    # Newer bars first, then the older ones late, in several batches.
    for batch in (records[500:], records[:200], records[200:500]):
        processor.process(batch)
    return DuckDBEngine(lake)


def test_the_lake_has_the_table_and_every_case(engine) -> None:
    got = engine.execute(
        'SELECT count(*) AS n, count(DISTINCT symbol || "interval") AS s FROM latest'
    ).to_dicts()
    assert got == [{"n": 5 * 3, "s": 3}]  # five dates (a holiday and a Saturday too), 3 series


def test_latest_quotes_equals_the_old_view(engine) -> None:
    order = ' ORDER BY symbol, "interval"'
    new = engine.execute("SELECT * FROM latest_quotes" + order)
    old = engine.execute(f"SELECT * FROM ({OLD_LATEST_QUOTES}) AS q" + order)
    assert new.columns == old.columns
    assert new.rows == old.rows
    assert len(new.rows) == 3


@pytest.mark.parametrize("symbols", ["", "XT", "YZ,XT", "NONE"])
def test_latest_kpis_equals_the_old_sql(engine, symbols: str) -> None:
    query = get_named_query("latest_kpis")
    new = engine.execute(query.sql, [symbols, symbols])
    old = engine.execute(OLD_LATEST_KPIS, [symbols, symbols])
    assert (new.columns, new.rows) == (old.columns, old.rows)


@pytest.mark.parametrize("from_dt", ["", "2026-11-25", "2026-11-27", "2026-11-28", "2027-01-01"])
def test_dashboard_catalog_equals_the_old_sql(engine, from_dt: str) -> None:
    new = engine.execute(get_named_query("dashboard_catalog").sql, [from_dt])
    old = engine.execute(OLD_DASHBOARD_CATALOG, [from_dt])
    assert (new.columns, new.rows) == (old.columns, old.rows)


def test_an_empty_lake_gives_empty_answers(tmp_path: Path) -> None:
    engine = DuckDBEngine(LocalLake(tmp_path / "empty"))
    assert engine.execute("SELECT * FROM latest_quotes").rows == []
    assert engine.execute(get_named_query("dashboard_catalog").sql, [""]).rows == []


def test_the_table_is_one_small_file(engine) -> None:
    assert Path(engine.lake.root, LATEST_FILE).stat().st_size < 20_000


def _daily_files_read(engine: DuckDBEngine, sql: str) -> int:
    """How many daily files DuckDB opened to answer `sql` (its EXPLAIN ANALYZE as JSON)."""
    engine.refresh()
    cur = engine._con.cursor()
    explain = "EXPLAIN (ANALYZE, FORMAT JSON) " + to_duckdb(sql)
    plan = json.loads(cur.execute(explain).fetchall()[0][1])
    cur.close()

    def scans(node: dict) -> list[dict]:
        info = node.get("extra_info") or {}
        own = [info] if "Total Files Read" in info else []
        return own + [s for child in node.get("children", []) for s in scans(child)]

    return sum(
        int(info["Total Files Read"])
        for op in plan["operator"]
        for info in scans(op)
        if "processed-data/daily/" in str(info.get("Filename(s)", ""))
    )


def test_latest_quotes_reads_only_the_previous_daily_partitions(engine) -> None:
    # The last bars are on Saturday 11-28 (no daily row); the previous date with bars,
    # Friday 11-27, has daily rows for every series: its file is the only one read, where
    # the join over every earlier date read all three daily files before 11-28.
    assert _daily_files_read(engine, "SELECT * FROM latest_quotes") == 1
    assert _daily_files_read(engine, OLD_LATEST_QUOTES) == 3


def test_a_previous_date_without_daily_rows_falls_back_to_older_ones(
    tmp_path: Path, extended_hours
) -> None:
    # Up to Friday 11-27: its previous date with bars, the holiday 11-26, has extended-hours
    # bars only and no daily row, so the previous close is Wednesday 11-25's.
    bars = [b for b in _series(extended_hours) if b.ts < datetime(2026, 11, 28, 9, tzinfo=UTC)]
    engine = _engine(tmp_path, bars)
    new = engine.execute(get_named_query("latest_kpis").sql, ["", ""])
    old = engine.execute(OLD_LATEST_KPIS, ["", ""])
    assert (new.columns, new.rows) == (old.columns, old.rows)
    closes = dict(
        engine.execute(
            "SELECT symbol || '/' || \"interval\", close FROM daily WHERE dt = '2026-11-25'"
        ).rows
    )
    got = engine.execute(
        "SELECT symbol || '/' || \"interval\", dt, reference_price FROM latest_quotes"
    ).rows
    assert sorted(got) == [
        ("XT/15min", "2026-11-27", closes["XT/15min"]),
        ("XT/60min", "2026-11-27", closes["XT/60min"]),
        ("YZ/15min", "2026-11-27", closes["YZ/15min"]),
    ]


def test_dashboard_kpis_looks_past_a_previous_date_without_a_regular_session(engine) -> None:
    # The window ends on Friday 11-27; the date before it with bars is the holiday 11-26,
    # with extended-hours bars only, so the reference is Wednesday 11-25's regular close.
    query = get_named_query("dashboard_kpis")
    params = {"symbols": "XT,YZ", "interval": "15min"}
    params.update(to_ts="2026-11-28T04:00:00Z", to_dt="2026-11-27")
    got = {r["symbol"]: r for r in engine.execute(query.sql, query.bind(params)).to_dicts()}
    closes = dict(
        engine.execute(
            "SELECT symbol, close FROM daily WHERE dt = '2026-11-25' AND \"interval\" = '15min'"
        ).rows
    )
    assert sorted(got) == ["XT", "YZ"]
    for symbol in ("XT", "YZ"):
        assert got[symbol]["session"] == "2026-11-27"
        assert got[symbol]["reference_price"] == closes[symbol]
