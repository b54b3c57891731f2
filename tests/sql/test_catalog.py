"""Every SQL file parses as Athena SQL, and every named query's header matches its body."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlglot
from sqlglot import exp

from stockpipe.errors import ConfigError, QueryError
from stockpipe.sql import list_named_queries
from stockpipe.sql.base import PARAM_TYPES
from stockpipe.sql.catalog import (
    QUERIES_ROOT,
    all_sql_files,
    get_named_query,
    load_named_query,
    view_files,
)
from stockpipe.sql.transpile import to_duckdb

ALL_SQL = sorted(QUERIES_ROOT.rglob("*.sql"))
QUERIES = list_named_queries()


def test_catalog_lists_every_sql_file() -> None:
    assert sorted(all_sql_files()) == ALL_SQL
    assert {"ddl", "views", "queries"} == {p.parent.name for p in ALL_SQL}


@pytest.mark.parametrize("path", ALL_SQL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sql_file_parses_with_the_athena_dialect(path) -> None:
    statements = [s for s in sqlglot.parse(path.read_text(), read="athena") if s is not None]
    assert len(statements) == 1, "one statement per file"


@pytest.mark.parametrize("path", view_files(), ids=lambda p: p.name)
def test_views_create_the_view_named_like_the_file(path) -> None:
    stmt = sqlglot.parse_one(path.read_text(), read="athena")
    assert isinstance(stmt, exp.Create) and stmt.kind == "VIEW"
    assert stmt.this.name == path.stem
    to_duckdb(path.read_text())  # and it translates


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_named_query_header_matches_its_placeholders(query) -> None:
    assert query.purpose and query.pruning
    assert query.pruning.split()[0] in ("yes", "no")
    assert all(p.type in PARAM_TYPES for p in query.placeholders)
    stmt = sqlglot.parse_one(query.sql, read="athena")
    placeholders = list(stmt.find_all(exp.Placeholder))
    assert len(placeholders) == len(query.placeholders), "one '-- params' entry per ?"
    assert not isinstance(stmt, exp.Create), "named queries are SELECTs"
    to_duckdb(query.sql)


def test_core_named_queries_exist_with_their_parameters() -> None:
    params = {q.name: [(p.name, p.type) for p in q.params] for q in QUERIES}
    assert params["symbol_series"] == [
        ("symbol", "varchar"),
        ("from_ts", "timestamp"),
        ("to_ts", "timestamp"),
    ]
    assert params["compare_normalized"][0] == ("symbols", "varchar")
    assert params["daily_movers"] == [("from", "date"), ("symbol", "varchar")]
    for name in ("latest_kpis", "volume_by_symbol", "heatmap"):
        assert name in params


def test_bind_converts_types_repeats_names_and_applies_defaults() -> None:
    q = get_named_query("symbol_series")
    values = q.bind({"symbol": "AAPL", "from_ts": "2026-01-05", "to_ts": "2026-01-06T15:00:00Z"})
    start, end = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, 15, tzinfo=UTC)
    assert values == ["AAPL", start, end, start, end]
    movers = get_named_query("daily_movers").bind({"from": "2026-01-05"})
    assert movers == [date(2026, 1, 5), "", ""]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"symbol": "AAPL", "from_ts": "2026-01-05"}, "needs parameter 'to_ts'"),
        (
            {"symbol": "A", "from_ts": "yesterday", "to_ts": "2026-01-06"},
            "'yesterday' is not a timestamp",
        ),
        (
            {"symbol": "A", "from_ts": "2026-01-05", "to_ts": "2026-01-06", "limit": "5"},
            "no parameter 'limit'",
        ),
    ],
    ids=["missing", "bad-timestamp", "unknown"],
)
def test_bind_errors_name_the_bad_value(params, message) -> None:
    with pytest.raises(QueryError, match=message):
        get_named_query("symbol_series").bind(params)


def test_unknown_or_unsafe_query_names_are_refused() -> None:
    with pytest.raises(QueryError, match="no named query 'nope'; available: "):
        get_named_query("nope")
    with pytest.raises(QueryError, match="bad query name"):
        get_named_query("../ddl/00_database")


def test_a_header_without_pruning_is_refused(tmp_path) -> None:
    path = tmp_path / "bad.sql"
    path.write_text("-- name: bad\n-- purpose: x\n-- params: a varchar\nSELECT ?\n")
    with pytest.raises(ConfigError, match="lacks '-- pruning:'"):
        load_named_query(path)
    path.write_text("-- name: bad\n-- purpose: x\n-- params: a text\n-- pruning: no\nSELECT ?\n")
    with pytest.raises(ConfigError, match="bad parameter 'a text'"):
        load_named_query(path)


def test_unparseable_sql_reports_line_and_column() -> None:
    with pytest.raises(QueryError, match=r"SQL syntax error at line 2, column \d+"):
        to_duckdb("SELECT symbol\nFROM bars WHERE (")


def test_readme_documents_the_conventions() -> None:
    text = (QUERIES_ROOT / "queries" / "README.md").read_text()
    for word in ("-- name:", "-- purpose:", "-- params:", "-- pruning:", "?"):
        assert word in text
