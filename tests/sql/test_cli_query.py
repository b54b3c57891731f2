"""`stockpipe query` and `stockpipe athena ddl` end to end, in-process."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sql_fixture_lake import D1, D2, SESSIONS


@pytest.fixture
def lake_env(fixture_lake, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STOCKPIPE_LAKE", fixture_lake.root)
    return fixture_lake.root


def test_spine_query_in_every_format(cli, lake_env) -> None:
    sql = "SELECT symbol, count(*) AS n FROM bars GROUP BY 1 ORDER BY 1"
    as_csv = cli("query", sql, "--format", "csv")
    assert as_csv.code == 0, as_csv.err
    assert list(csv.reader(io.StringIO(as_csv.out))) == [
        ["symbol", "n"],
        ["AAPL", "8"],
        ["MSFT", "8"],
        ["TSLA", "4"],
    ]
    as_json = cli("query", sql, "--format", "json")
    assert json.loads(as_json.out) == [
        {"symbol": "AAPL", "n": 8},
        {"symbol": "MSFT", "n": 8},
        {"symbol": "TSLA", "n": 4},
    ]
    table = cli("query", sql)
    assert table.code == 0 and "TSLA" in table.out and "symbol" in table.out


def test_named_query_with_params(cli, lake_env) -> None:
    out = cli(
        "query",
        "--name",
        "daily_movers",
        "--param",
        "symbol=AAPL",
        "--param",
        f"from={D1}",
        "--format",
        "json",
    )
    assert out.code == 0, out.err
    assert [(r["dt"], r["direction"], r["symbol"]) for r in json.loads(out.out)] == [
        (D2, "gainer", "AAPL")
    ]
    series = cli(
        "query",
        "-n",
        "symbol_series",
        "-p",
        "symbol=TSLA",
        "-p",
        "from_ts=2026-01-05",
        "-p",
        "to_ts=2026-01-06",
        "-f",
        "json",
    )
    rows = json.loads(series.out)
    assert [r["close"] for r in rows] == SESSIONS[("TSLA", D1)][1]
    assert rows[0]["ts"] == "2026-01-05T14:30:00+00:00"


def test_ad_hoc_parameters_are_bound_in_order(cli, lake_env) -> None:
    out = cli(
        "query",
        "SELECT count(*) AS n FROM bars WHERE symbol = ? AND dt = ?",
        "-p",
        "AAPL",
        "-p",
        D2,
        "-f",
        "csv",
    )
    assert out.out.splitlines() == ["n", "4"]


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["SELECT nope FROM bars"], 'Referenced column "nope" not found', 1),
        (["SELECT symbol FROM bars WHERE ("], "SQL syntax error at line 1, column", 1),
        (["--name", "symbol_series", "--param", "symbol=AAPL"], "needs parameter 'from_ts'", 1),
        (["--name", "daily_movers", "--param", "from"], "must look like name=value", 2),
        (["SELECT 1", "--format", "xml"], "--format 'xml' is not one of", 2),
        ([], "pass either SQL text or --name", 2),
    ],
    ids=["binder", "syntax", "missing-param", "bad-param", "bad-format", "nothing"],
)
def test_errors_are_one_line_and_non_zero(cli, lake_env, args, message, code) -> None:
    out = cli("query", *args)
    assert out.code == code
    assert message in out.err and len(out.err.strip().splitlines()) == 1


def test_empty_lake_is_an_empty_result_with_columns(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STOCKPIPE_LAKE", str(tmp_path / "empty"))
    out = cli("query", "SELECT symbol, count(*) AS n FROM bars GROUP BY 1", "-f", "csv")
    assert (out.code, out.out) == (0, "symbol,n\n")


def test_help_names_the_environment_variables(cli) -> None:
    out = cli("query", "--help")
    assert "[env: STOCKPIPE_SQL]" in out.out and "[env: STOCKPIPE_LAKE]" in out.out


def test_list_shows_named_queries(cli) -> None:
    out = cli("query", "--list")
    assert "symbol_series(symbol varchar, from_ts timestamp, to_ts timestamp)" in out.out
    assert "daily_movers(from date, symbol varchar = '')" in out.out


def test_athena_ddl_prints_the_generated_files(cli) -> None:
    out = cli("athena", "ddl")
    assert out.code == 0
    assert "-- file: ddl/01_bars.sql" in out.out
    assert "'projection.dt.range' = '2024-01-01,NOW'" in out.out


def test_athena_setup_dry_run_needs_an_s3_lake(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STOCKPIPE_LAKE", str(tmp_path))
    assert "needs an s3:// lake" in cli("athena", "setup", "--dry-run").err
    monkeypatch.setenv("STOCKPIPE_LAKE", "s3://bucket/lake")
    out = cli("athena", "setup", "--dry-run")
    assert (
        out.code == 0 and "LOCATION 's3://bucket/lake/processed-data/daily/_manifests/'" in out.out
    )
