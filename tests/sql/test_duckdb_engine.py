"""Every view and core named query on the fixture lake, against values computed here."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pytest
from sql_fixture_lake import D1, D2, DAILY_ROWS, SESSIONS, SMA, bar_ts, vwap_of, write_fixture_lake

import stockpipe.sql.duckdb as duckdb_module
from stockpipe.config import load_settings
from stockpipe.contract import BARS, TABLES
from stockpipe.errors import QueryError
from stockpipe.lake.local import LocalLake
from stockpipe.sql import list_named_queries, missing_symbol_hint, run_named_query, run_query
from stockpipe.sql.duckdb import DuckDBEngine


@pytest.fixture(scope="module")
def module_lake(tmp_path_factory) -> LocalLake:
    # Read-only tests share one lake and one engine per read path, to stay fast.
    return write_fixture_lake(tmp_path_factory.mktemp("sql") / "lake")


@pytest.fixture(scope="module", params=[True, False], ids=["duckdb-readers", "arrow-datasets"])
def engine(request, module_lake: LocalLake) -> DuckDBEngine:
    eng = DuckDBEngine(module_lake, native=request.param)
    yield eng
    eng.close()


def named(engine: DuckDBEngine, name: str, **params: str) -> list[dict]:
    from stockpipe.sql.catalog import get_named_query

    q = get_named_query(name)
    return engine.execute(q.sql, q.bind(params)).to_dicts()


def rows(engine: DuckDBEngine, sql: str) -> list[dict]:
    return engine.execute(sql).to_dicts()


# -- lake tables ---------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(TABLES.values()), ids=lambda t: t.name)
def test_tables_expose_exactly_the_contract_columns(engine, table) -> None:
    result = engine.execute(f"SELECT * FROM {table.name}")
    assert result.columns == table.column_names + [p.name for p in table.partitions]


def test_table_row_counts_ignore_temporary_files(engine) -> None:
    counts = {t: rows(engine, f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in TABLES}
    # latest: one row per (symbol, session date) with bars, the five entries of SESSIONS.
    assert counts == {"bars": 20, "daily": 6, "quarantine": 2, "raw": 2, "latest": 5}


def test_bars_values_round_trip_with_utc_timestamps(engine) -> None:
    got = rows(engine, "SELECT * FROM bars WHERE symbol = 'TSLA' ORDER BY ts")
    opens, closes, volumes = SESSIONS[("TSLA", D1)]
    assert [r["ts"] for r in got] == [bar_ts(D1, i) for i in range(4)]
    assert all(r["ts"].utcoffset().total_seconds() == 0 for r in got)
    assert [r["close"] for r in got] == closes
    assert [r["volume"] for r in got] == volumes
    assert {r["dt"] for r in got} == {D1}


def test_raw_and_partition_columns_are_strings(engine) -> None:
    got = rows(engine, "SELECT * FROM raw ORDER BY sequence_number")
    assert [(r["dt"], r["hour"], r["data"], r["data_b64"]) for r in got] == [
        (D1, "14", '{"symbol": "AAPL"}', None),
        (D1, "14", None, "/w=="),
    ]


def test_empty_lake_gives_empty_results_with_the_right_columns(tmp_path) -> None:
    eng = DuckDBEngine(LocalLake(tmp_path / "nothing-here"))
    result = eng.execute("SELECT symbol, count(*) AS n FROM bars GROUP BY 1")
    assert result.columns == ["symbol", "n"] and result.rows == []
    assert eng.execute("SELECT * FROM latest_quotes").rows == []
    assert eng.execute("SELECT * FROM raw").columns[-2:] == ["dt", "hour"]


def test_new_and_replaced_files_are_seen_by_the_next_query(tmp_path) -> None:
    lake = LocalLake(tmp_path / "lake")
    eng = DuckDBEngine(lake)
    assert eng.execute("SELECT count(*) FROM bars").rows == [(0,)]
    row = {f.name: None for f in BARS.arrow_schema()}
    row.update(
        symbol="NVDA",
        interval="1min",
        ts=datetime(2026, 1, 5, 15, tzinfo=UTC),
        open=1.0,
        high=1.0,
        low=1.0,
        close=1.0,
        volume=5,
        session="regular",
    )
    path = "processed-data/bars/dt=2026-01-05/part-0.parquet"
    lake.write_parquet(path, pa.Table.from_pylist([row], schema=BARS.arrow_schema()))
    assert eng.execute("SELECT symbol, volume FROM bars").rows == [("NVDA", 5)]
    row["volume"] = 7  # the writer replaces the whole file atomically
    lake.write_parquet(
        path, pa.Table.from_pylist([row, {**row, "symbol": "META"}], schema=BARS.arrow_schema())
    )
    assert eng.execute("SELECT symbol, volume FROM bars ORDER BY 1").rows == [
        ("META", 7),
        ("NVDA", 7),
    ]


def test_parameters_are_bound_not_pasted(engine) -> None:
    evil = "AAPL' OR '1'='1"
    assert engine.execute("SELECT count(*) FROM bars WHERE symbol = ?", [evil]).rows == [(0,)]
    assert engine.execute("SELECT count(*) FROM bars WHERE symbol = ?", ["AAPL"]).rows == [(8,)]


def test_sql_errors_carry_the_position(engine) -> None:
    with pytest.raises(QueryError, match=r"nope.*line 1, column 8"):
        engine.execute("SELECT nope FROM bars")


# -- views ----------------------------------------------------------------------------------


def test_latest_quotes(engine) -> None:
    got = {r["symbol"]: r for r in rows(engine, "SELECT * FROM latest_quotes")}
    assert sorted(got) == ["AAPL", "MSFT", "TSLA"]
    # reference = the previous trading day's close in daily, else the day's open there
    expected = {
        "AAPL": (SESSIONS[("AAPL", D2)][1][-1], SESSIONS[("AAPL", D1)][1][-1], D2),
        "MSFT": (SESSIONS[("MSFT", D2)][1][-1], SESSIONS[("MSFT", D1)][1][-1], D2),
        "TSLA": (SESSIONS[("TSLA", D1)][1][-1], SESSIONS[("TSLA", D1)][0][0], D1),
    }
    for sym, (last, ref, dt) in expected.items():
        r = got[sym]
        assert (r["close"], r["reference_price"], r["dt"]) == (last, ref, dt)
        assert r["change"] == pytest.approx(last - ref)
        assert r["change_pct"] == pytest.approx(100 * (last - ref) / ref)
        assert r["session_volume"] == sum(SESSIONS[(sym, dt)][2])
        assert r["ts"] == bar_ts(dt, 3)


def test_daily_movers(engine) -> None:
    got = rows(engine, "SELECT * FROM daily_movers ORDER BY dt, direction, mover_rank")
    expected = []
    for dt in (D1, D2):
        day = [(s, v[3]) for (s, d), v in DAILY_ROWS.items() if d == dt and v[3] is not None]
        gainers = sorted([x for x in day if x[1] > 0], key=lambda x: (-x[1], x[0]))[:5]
        losers = sorted([x for x in day if x[1] < 0], key=lambda x: (x[1], x[0]))[:5]
        expected += [(dt, "gainer", i + 1, s) for i, (s, _) in enumerate(gainers)]
        expected += [(dt, "loser", i + 1, s) for i, (s, _) in enumerate(losers)]
    assert [(r["dt"], r["direction"], r["mover_rank"], r["symbol"]) for r in got] == expected
    assert expected[:2] == [(D1, "gainer", 1, "MSFT"), (D1, "loser", 1, "TSLA")]


def test_volume_leaders(engine) -> None:
    got = rows(engine, "SELECT * FROM volume_leaders WHERE dt = '2026-01-05' ORDER BY volume_rank")
    day = {s: v[1] for (s, d), v in DAILY_ROWS.items() if d == D1}
    total = sum(day.values())
    order = sorted(day, key=lambda s: -day[s])
    assert [r["symbol"] for r in got] == order == ["TSLA", "AAPL", "MSFT"]
    for r in got:
        assert r["volume_share_pct"] == pytest.approx(100 * day[r["symbol"]] / total)


def test_ma_crossovers_golden_and_death(engine) -> None:
    got = rows(
        engine, "SELECT symbol, ts, cross_type, sma_20, sma_50 FROM ma_crossovers ORDER BY ts"
    )
    s20, s50 = SMA[("AAPL", D1)]
    expected = []
    for i in range(1, 4):
        if s20[i - 1] <= s50[i - 1] and s20[i] > s50[i]:
            expected.append(("AAPL", bar_ts(D1, i), "golden"))
        if s20[i - 1] >= s50[i - 1] and s20[i] < s50[i]:
            expected.append(("AAPL", bar_ts(D1, i), "death"))
    assert [(r["symbol"], r["ts"], r["cross_type"]) for r in got] == expected
    assert [e[2] for e in expected] == ["golden", "death"]


def test_volatility_ranking(engine) -> None:
    got = rows(engine, "SELECT * FROM volatility_ranking ORDER BY dt, volatility_rank")
    expected = {}
    for (sym, dt), (_, closes, _) in SESSIONS.items():
        r = [math.log(closes[i] / closes[i - 1]) for i in range(1, 4)]
        mean = sum(r) / 3
        expected[(sym, dt)] = (
            math.sqrt(sum(x * x for x in r)),
            math.sqrt(sum((x - mean) ** 2 for x in r) / 2),
        )
    assert len(got) == len(expected)
    for row in got:
        vol, sd = expected[(row["symbol"], row["dt"])]
        assert row["return_count"] == 3
        assert row["realized_volatility"] == pytest.approx(vol)
        assert row["return_stddev"] == pytest.approx(sd)
    for dt in (D1, D2):
        ranked = sorted((k[0] for k in expected if k[1] == dt), key=lambda s: -expected[(s, dt)][0])
        assert [r["symbol"] for r in got if r["dt"] == dt] == ranked


def test_vwap_deviation(engine) -> None:
    got = rows(engine, "SELECT * FROM vwap_deviation WHERE symbol = 'MSFT' ORDER BY ts")
    closes = SESSIONS[("MSFT", D1)][1] + SESSIONS[("MSFT", D2)][1]
    assert [r["close"] for r in got] == closes
    for r, c in zip(got, closes, strict=True):
        assert r["deviation"] == pytest.approx(c - vwap_of(c))
        assert r["deviation_pct"] == pytest.approx(100 * (c - vwap_of(c)) / vwap_of(c))


def test_price_heatmap(engine) -> None:
    got = rows(engine, "SELECT * FROM price_heatmap ORDER BY symbol, hour_bucket")
    expected = []
    for (sym, dt), (opens, closes, volumes) in sorted(SESSIONS.items()):
        for lo, hour in ((0, 14), (2, 15)):  # bars 0-1 start in hour 14, bars 2-3 in hour 15
            o, c = opens[lo], closes[lo + 1]
            bucket = bar_ts(dt, lo).replace(minute=0)
            assert bucket.hour == hour
            expected.append((sym, bucket, o, c, 100 * (c - o) / o, volumes[lo] + volumes[lo + 1]))
    assert len(got) == len(expected) == 10
    for r, e in zip(got, expected, strict=True):
        assert (r["symbol"], r["hour_bucket"], r["open"], r["close"]) == e[:4]
        assert r["change_pct"] == pytest.approx(e[4])
        assert (r["volume"], r["bar_count"]) == (e[5], 2)


# -- named queries ---------------------------------------------------------------------------


def test_symbol_series_window_is_half_open_and_crosses_sessions(engine) -> None:
    got = named(
        engine,
        "symbol_series",
        symbol="AAPL",
        from_ts="2026-01-05T14:31:00Z",
        to_ts="2026-01-06T15:00:00Z",
    )
    expected_ts = [bar_ts(D1, 1), bar_ts(D1, 2), bar_ts(D1, 3), bar_ts(D2, 0), bar_ts(D2, 1)]
    assert [r["ts"] for r in got] == expected_ts
    assert [r["close"] for r in got] == SESSIONS[("AAPL", D1)][1][1:] + SESSIONS[("AAPL", D2)][1][
        :2
    ]
    assert {"sma_20", "sma_50", "rsi_14", "macd", "bb_upper", "vwap", "dt"} <= set(got[0])
    assert got[0]["sma_20"] == SMA[("AAPL", D1)][0][1]


def test_compare_normalized_starts_each_symbol_at_100(engine) -> None:
    got = named(
        engine, "compare_normalized", symbols="AAPL,TSLA", from_ts="2026-01-05", to_ts="2026-01-07"
    )
    assert {r["symbol"] for r in got} == {"AAPL", "TSLA"}
    for sym in ("AAPL", "TSLA"):
        closes = [c for (s, _), (_, cs, _) in sorted(SESSIONS.items()) if s == sym for c in cs]
        series = [r["normalized"] for r in got if r["symbol"] == sym]
        assert series == pytest.approx([100 * c / closes[0] for c in closes])


def test_latest_kpis_for_selected_and_all_symbols(engine) -> None:
    got = named(engine, "latest_kpis", symbols="AAPL,TSLA")
    assert [r["symbol"] for r in got] == ["AAPL", "TSLA"]
    aapl = got[0]
    opens2, closes2, vols2 = SESSIONS[("AAPL", D2)]
    prev = SESSIONS[("AAPL", D1)][1][-1]
    assert aapl["last_price"] == closes2[-1]
    assert aapl["change"] == pytest.approx(closes2[-1] - prev)
    assert aapl["change_pct"] == pytest.approx(100 * (closes2[-1] - prev) / prev)
    assert aapl["volume"] == sum(vols2)
    assert aapl["session_high"] == max(
        max(o, c) + 0.5 for o, c in zip(opens2, closes2, strict=True)
    )
    assert aapl["session_low"] == min(min(o, c) - 0.5 for o, c in zip(opens2, closes2, strict=True))
    assert aapl["vwap"] == vwap_of(closes2[-1])
    assert [r["symbol"] for r in named(engine, "latest_kpis")] == ["AAPL", "MSFT", "TSLA"]


def test_daily_movers_query_from_a_date_with_optional_symbol(engine) -> None:
    got = named(engine, "daily_movers", **{"from": D2})
    assert [(r["dt"], r["direction"], r["symbol"]) for r in got] == [
        (D2, "gainer", "AAPL"),
        (D2, "gainer", "TSLA"),
        (D2, "loser", "MSFT"),
    ]
    only = named(engine, "daily_movers", **{"from": D1, "symbol": "MSFT"})
    assert [(r["dt"], r["direction"], r["change_pct"]) for r in only] == [
        (D1, "gainer", 1.0),
        (D2, "loser", -1.5),
    ]


def test_volume_by_symbol_sums_the_date_range(engine) -> None:
    got = named(engine, "volume_by_symbol", **{"from": D1, "to": D2})
    totals: dict[str, int] = {}
    for (s, _), v in DAILY_ROWS.items():
        totals[s] = totals.get(s, 0) + v[1]
    grand = sum(totals.values())
    assert [(r["symbol"], r["volume"], r["sessions"]) for r in got] == [
        (s, totals[s], 2) for s in sorted(totals, key=lambda s: -totals[s])
    ]
    assert sum(r["volume_share_pct"] for r in got) == pytest.approx(100)
    assert got[0]["volume_share_pct"] == pytest.approx(100 * totals["TSLA"] / grand)
    assert [r["symbol"] for r in named(engine, "volume_by_symbol", **{"from": D2, "to": D2})] == [
        "AAPL",
        "MSFT",
        "TSLA",
    ]


def test_heatmap_window_and_symbol_filter(engine) -> None:
    got = named(
        engine,
        "heatmap",
        from_ts="2026-01-05T15:00:00Z",
        to_ts="2026-01-06T15:00:00Z",
        symbols="MSFT",
    )
    assert [(r["symbol"], r["hour_bucket"]) for r in got] == [
        ("MSFT", datetime(2026, 1, 5, 15, tzinfo=UTC)),
        ("MSFT", datetime(2026, 1, 6, 14, tzinfo=UTC)),
    ]
    o, c = SESSIONS[("MSFT", D2)][0][0], SESSIONS[("MSFT", D2)][1][1]
    assert got[1]["change_pct"] == pytest.approx(100 * (c - o) / o)
    everyone = named(engine, "heatmap", from_ts="2026-01-05", to_ts="2026-01-07")
    assert len(everyone) == 10


# -- public API -----------------------------------------------------------------------------


def test_run_query_and_run_named_query_use_the_settings_lake(lake_settings) -> None:
    result = run_query(
        "SELECT symbol, count(*) AS n FROM bars GROUP BY 1 ORDER BY 1", settings=lake_settings
    )
    assert result.rows == [("AAPL", 8), ("MSFT", 8), ("TSLA", 4)]
    assert result.scanned_bytes is None and result.cost_usd is None
    kpis = run_named_query("latest_kpis", {"symbols": "TSLA"}, settings=lake_settings)
    assert kpis.to_dicts()[0]["last_price"] == SESSIONS[("TSLA", D1)][1][-1]


def _sample(param) -> str:
    """A plausible value for any query's parameter, from its name and type."""
    if param.type == "timestamp":
        return "2026-01-07" if param.name.startswith(("to", "end")) else "2026-01-05"
    if param.type == "date" or param.name.endswith("_dt"):
        return D2 if param.name.startswith(("to", "end")) else D1
    if param.type == "bigint":
        return "3600"
    if param.type == "double":
        return "1.0"
    if "symbols" in param.name:
        return "AAPL,MSFT"
    if "symbol" in param.name:
        return "AAPL"
    if "interval" in param.name:
        return "1min"
    return param.default if param.default is not None else ""


@pytest.mark.parametrize("query", list_named_queries(), ids=lambda q: q.name)
def test_every_named_query_runs_locally(engine, query) -> None:
    """Including the dashboard's and Power BI's: the files must run on DuckDB too."""
    result = engine.execute(query.sql, query.bind({p.name: _sample(p) for p in query.params}))
    assert result.columns


def test_a_file_replaced_mid_query_is_retried(fixture_lake, monkeypatch) -> None:
    eng = DuckDBEngine(fixture_lake)
    real_run = eng._run
    calls = []

    def flaky(sql, values):
        calls.append(sql)
        if len(calls) == 1:
            raise duckdb.Error("Out of buffer")  # what DuckDB says when a file changed under it
        return real_run(sql, values)

    monkeypatch.setattr(eng, "_run", flaky)
    assert eng.execute("SELECT count(*) FROM bars").rows == [(20,)]
    assert len(calls) == 2
    with pytest.raises(QueryError, match="not found"):
        eng.execute("SELECT nope FROM bars")  # user errors are not retried
    assert len(calls) == 3


def test_queries_while_a_writer_replaces_and_deletes_files(fixture_lake) -> None:
    """A writer replaces and deletes files while each query runs, and every query succeeds.

    The writer runs one step (at most three changes: two atomic replaces and a delete) during
    each query, concurrently with it, and waits for the next query: a change can break at
    most one of the engine's attempts, so at most three of its five (`_IO_RETRIES`) fail,
    however the threads are scheduled. A writer that never pauses made the outcome depend on
    the load (all five attempts could meet a change).
    """
    assert duckdb_module._IO_RETRIES > 3
    part = "processed-data/bars/dt=2026-01-05/part-0.parquet"
    table = fixture_lake.read_parquet(part)
    query_started, step_done = threading.Semaphore(0), threading.Semaphore(0)
    steps = 100

    def writer() -> None:
        for i in range(steps):
            query_started.acquire()
            fixture_lake.write_parquet(part, table.slice(0, 1 + i % table.num_rows))
            fixture_lake.write_parquet(
                f"processed-data/bars/dt=2026-01-07/p-{i % 3}.parquet", table
            )
            if i % 10 == 0:  # compaction-like deletes, rarer than replaces
                fixture_lake.delete(f"processed-data/bars/dt=2026-01-07/p-{(i + 1) % 3}.parquet")
            step_done.release()

    thread = threading.Thread(target=writer)
    thread.start()
    eng = DuckDBEngine(fixture_lake)
    try:
        for _ in range(steps):
            query_started.release()
            assert eng.execute("SELECT symbol, count(*) FROM bars GROUP BY 1").columns
            step_done.acquire()
    finally:
        for _ in range(steps):
            query_started.release()  # an assertion failed: let the writer finish
        thread.join()
        eng.close()
    # After the last step (i = 99): 2026-01-05's part-0 holds its first 1 + 99 % 8 = 4 rows
    # (AAPL's four bars; MSFT's four came after them), its part-1 TSLA's 4; 2026-01-06 is
    # untouched (AAPL 4, MSFT 4); 2026-01-07 holds p-0, p-1 and p-2 (the last delete, p-1 at
    # i = 90, was rewritten at i = 91), each the 8-row table (AAPL 4, MSFT 4).
    final = DuckDBEngine(fixture_lake)
    try:
        rows = final.execute("SELECT symbol, count(*) FROM bars GROUP BY 1 ORDER BY 1").rows
    finally:
        final.close()
    assert rows == [("AAPL", 4 + 4 + 3 * 4), ("MSFT", 4 + 3 * 4), ("TSLA", 4)]


def test_sql_errors_name_the_query_they_come_from(engine) -> None:
    with pytest.raises(QueryError) as failed:
        engine.execute("SELECT nope FROM bars", query="my_report")
    assert (failed.value.query, failed.value.execution_id) == ("my_report", None)
    with pytest.raises(QueryError, match="missing_table") as unknown:
        engine.execute("SELECT * FROM missing_table", query="my_report")
    assert unknown.value.query == "my_report"
    with pytest.raises(QueryError, match="COPY statements are refused") as refused:
        engine.execute("COPY (SELECT 1) TO 'x.csv'", query="my_report")
    assert refused.value.query == "my_report"
    with pytest.raises(QueryError) as ad_hoc:
        engine.execute("SELECT nope FROM bars")
    assert ad_hoc.value.query is None


def test_a_named_query_error_carries_its_name(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STOCKPIPE_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("STOCKPIPE_SQL", "duckdb")
    with pytest.raises(QueryError, match="from_ts") as bad_param:
        run_named_query(
            "symbol_series", {"symbol": "AAPL", "from_ts": "soon", "to_ts": "2026-01-06"}
        )
    assert bad_param.value.query == "symbol_series"


def test_missing_symbol_hint_names_the_symbols_in_the_lake(
    module_lake: LocalLake, tmp_path
) -> None:
    settings = load_settings({"lake": str(module_lake.root), "sql": "duckdb"}).settings
    assert missing_symbol_hint({"symbol": "ZZZ"}, settings=settings) == (
        "hint: no bars for symbol 'ZZZ' in the lake; symbols in the lake: AAPL, MSFT, TSLA"
    )
    assert missing_symbol_hint({"symbol": "AAPL"}, settings=settings) is None
    assert missing_symbol_hint({"symbol": "ZZZ,YYY"}, settings=settings) is None
    assert missing_symbol_hint({}, settings=settings) is None
    empty = load_settings({"lake": str(tmp_path / "empty"), "sql": "duckdb"}).settings
    assert missing_symbol_hint({"symbol": "ZZZ"}, settings=empty) == (
        "hint: no bars for symbol 'ZZZ' in the lake; symbols in the lake: none yet"
    )


def test_threads_querying_while_the_engine_closes_get_answers_or_a_clear_error(
    module_lake: LocalLake,
) -> None:
    """The dashboard's server threads share one engine: DuckDB 2 refuses a second call on a
    connection at the same time ("busy") instead of waiting, so every call on it must take
    the engine's lock, and `close()` must wait for the call in flight."""
    eng = DuckDBEngine(module_lake, native=True)
    # The views are built before the threads start.
    total = int(eng.execute("SELECT count(*) AS n FROM bars").to_dicts()[0]["n"])
    failures: list[BaseException] = []
    counts: list[int] = []
    start = threading.Barrier(5)

    def reader() -> None:
        start.wait()
        for _ in range(200):
            try:
                counts.append(int(eng.execute("SELECT count(*) AS n FROM bars").to_dicts()[0]["n"]))
            except QueryError:
                return  # closed under it: a clear error, expected after close()
            except Exception as exc:  # any other error is the bug
                failures.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    start.wait()
    time.sleep(0.2)  # the readers overlap each other first
    eng.close()  # while the readers run: must neither raise nor break a reader's call
    for thread in threads:
        thread.join(30)
    assert failures == []
    assert all(n == total for n in counts) and total > 0
