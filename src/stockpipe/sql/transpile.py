"""Athena (Trino) SQL -> DuckDB SQL with sqlglot, so one copy of each query runs in both."""

from __future__ import annotations

import difflib
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError

from stockpipe.errors import QueryError

# Statement keywords, to suggest the intended one when the first word is misspelled.
_KEYWORDS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "EXPLAIN", "VALUES")


def syntax_message(sql: str, exc: ParseError) -> str:
    """A short syntax error with the position, never sqlglot's internal class names.

    e.g. `SQL syntax error at line 1, column 7 near "SELEC *": unknown keyword SELEC
    (did you mean SELECT?)`.
    """
    first = exc.errors[0] if exc.errors else {}
    line, col = first.get("line"), first.get("col")
    where = f" at line {line}, column {col}" if line and col else ""
    near = (str(first.get("start_context") or "")[-20:] + str(first.get("highlight") or "")).strip()
    detail = str(first.get("description") or "")
    if "<class" in detail or "Required keyword" in detail or not detail:
        detail = "incomplete or misplaced expression"
    word = sql.strip().split(None, 1)[0].upper() if sql.strip() else ""
    if word and word not in _KEYWORDS:
        close = difflib.get_close_matches(word, _KEYWORDS, n=1)
        if close:
            detail = f"unknown keyword {word} (did you mean {close[0]}?)"
            where = " at line 1, column 1"
            near = sql.strip()[:20]
    return f"SQL syntax error{where} near {near!r}: {detail}"


def parse_athena(sql: str) -> list[exp.Expr]:
    """Every statement of `sql`, parsed with the Athena dialect; QueryError on bad SQL."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except ParseError as exc:
        raise QueryError(syntax_message(sql, exc)) from None
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
