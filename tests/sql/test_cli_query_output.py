"""Issue 19 items 13-15: readable errors and table output of `stockpipe query`."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sql_fixture_lake import D1


@pytest.fixture
def lake_env(fixture_lake, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STOCKPIPE_LAKE", fixture_lake.root)
    return fixture_lake.root


def _one_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.code != 0
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert "<class" not in lines[0] and "Required keyword" not in lines[0]
    return lines[0]


def test_syntax_errors_are_short_with_the_position(cli, lake_env) -> None:
    typo = _one_line(cli("query", "SELEC * FROM bars"))
    assert typo == (
        "error: SQL syntax error at line 1, column 1 near 'SELEC * FROM bars': "
        "unknown keyword SELEC (did you mean SELECT?)"
    )
    cut = _one_line(cli("query", "SELECT symbol FROM bars WHERE"))
    assert cut.startswith("error: SQL syntax error at line 1, column 29 near ")
    assert cut.endswith(": incomplete or misplaced expression")


def test_unknown_table_lists_the_available_ones(cli, lake_env) -> None:
    line = _one_line(cli("query", "SELECT * FROM barz"))
    assert line.startswith("error: unknown table 'barz'; available tables and views: ")
    listed = line.split(": ", 2)[2].split(", ")
    for name in ("bars", "daily", "quarantine", "raw", "latest_quotes", "daily_movers"):
        assert name in listed
    assert listed == sorted(listed)


def test_table_rounds_floats_but_csv_and_json_keep_full_precision(cli, lake_env) -> None:
    sql = (
        "SELECT CAST(0.1 AS DOUBLE) + CAST(0.2 AS DOUBLE) AS x, "
        "TIMESTAMP '2026-01-05 14:30:00' AS t, count(*) FROM bars"
    )
    table = cli("query", sql)
    assert table.code == 0, table.err
    assert "0.30000000000000004" not in table.out
    assert "│ 0.3 │" in table.out
    assert "2026-01-05T14:30:00" in table.out
    assert "count(*)" in table.out and "count_star" not in table.out
    rows = list(csv.reader(io.StringIO(cli("query", sql, "-f", "csv").out)))
    assert rows[1][0] == "0.30000000000000004"
    doc = json.loads(cli("query", sql, "-f", "json").out)
    assert doc[0]["x"] == 0.1 + 0.2 and doc[0]["x"] != 0.3


def test_wide_tables_never_cut_timestamps(cli, lake_env) -> None:
    # Nine columns used to be squeezed into 126 characters: "2026-01-05T14:30:0…".
    sql = (
        "SELECT symbol, ts, ingest_shard, ingest_seq, source, interval, open, close, volume "
        "FROM bars ORDER BY symbol, ts LIMIT 2"
    )
    out = cli("query", sql).out
    assert "2026-01-05T14:30:00+00:00" in out and "2026-01-05T14:31:00+00:00" in out
    assert "…" not in out
    every = cli("query", "SELECT * FROM bars ORDER BY symbol, ts LIMIT 2").out
    assert "2026-01-05T14:30:00+00:00" in every and "…" not in every


def test_empty_result_says_0_rows_and_hints_at_an_unknown_symbol(cli, lake_env) -> None:
    args = ("query", "--name", "daily_movers", "--param", f"from={D1}")
    unknown = cli(*args, "--param", "symbol=ZZZ")
    assert unknown.code == 0, unknown.err
    assert unknown.out.strip() == "0 rows"
    assert unknown.err.strip() == (
        "hint: no bars for symbol 'ZZZ' in the lake; symbols in the lake: AAPL, MSFT, TSLA"
    )
    # A known symbol with nothing in the window: 0 rows, and no misleading hint.
    later = cli(
        "query", "--name", "daily_movers", "--param", "from=2027-01-01", "-p", "symbol=AAPL"
    )
    assert later.out.strip() == "0 rows" and later.err == ""
    as_csv = cli(*args, "--param", "symbol=ZZZ", "-f", "csv")
    assert as_csv.out.splitlines()[0].startswith("dt,") and len(as_csv.out.splitlines()) == 1


def test_list_with_a_name_describes_that_query_alone(cli) -> None:
    out = cli("query", "--name", "daily_movers", "--list")
    assert out.code == 0
    lines = out.out.strip().splitlines()
    assert lines[0].startswith("daily_movers(from date, symbol varchar = '')")
    assert len(lines) == 2 and "gainers and losers" in lines[1]
    assert len(cli("query", "--list").out.strip().splitlines()) > 2 * 10
    bad = cli("query", "--name", "nope", "--list")
    assert bad.code != 0 and "no named query 'nope'; available: " in bad.err
