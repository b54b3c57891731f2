"""Athena (Trino) SQL -> DuckDB SQL with sqlglot, so one copy of each query runs in both."""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError

from stockpipe.errors import QueryError


def _position(exc: ParseError) -> str:
    if exc.errors:
        first = exc.errors[0]
        return f" at line {first.get('line')}, column {first.get('col')}"
    return ""


def parse_athena(sql: str) -> list[exp.Expr]:
    """Every statement of `sql`, parsed with the Athena dialect; QueryError on bad SQL."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except ParseError as exc:
        detail = exc.errors[0].get("description") if exc.errors else str(exc)
        raise QueryError(f"SQL syntax error{_position(exc)}: {detail}") from None
    except SqlglotError as exc:
        raise QueryError(f"SQL error: {exc}") from None
    if not statements:
        raise QueryError("empty SQL: pass a statement such as 'SELECT * FROM bars LIMIT 5'")
    return statements


@lru_cache(maxsize=512)
def to_duckdb(sql: str) -> str:
    """One Athena statement in DuckDB's dialect."""
    statements = parse_athena(sql)
    if len(statements) != 1:
        raise QueryError(
            f"expected one SQL statement, got {len(statements)}; run them one at a time"
        )
    try:
        return statements[0].sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise QueryError(f"cannot translate this SQL for DuckDB: {exc}") from None
