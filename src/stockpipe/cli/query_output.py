"""How `stockpipe query --format table` shows a result to a person.

Display only: floats are rounded (6.400000000000006 shows as 6.4), timestamps are shown
whole, and unaliased expressions get the column name the user wrote (`count(*)`, not
DuckDB's `count_star()`). The csv and json formats keep full precision and the engine's
names: they are for programs.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from stockpipe.sql import QueryResult

DECIMALS = 4  # enough for prices and percentages; small magnitudes keep 4 significant digits


def display_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float | Decimal):
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            return str(number)
        if number != 0 and abs(number) < 10**-DECIMALS * 100:
            return f"{number:.{DECIMALS}g}"
        text = f"{number:.{DECIMALS}f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def readable_columns(sql: str | None, columns: list[str]) -> list[str]:
    """Column headers: the alias, else the expression as written in the query."""
    if sql is None:
        return [_tidy(c) for c in columns]
    try:
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(sql, read="athena")
    except Exception:  # noqa: BLE001 - headers are cosmetic; the query itself already ran
        return [_tidy(c) for c in columns]
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    projections = list(select.expressions) if select is not None else []
    if len(projections) != len(columns) or any(isinstance(p, exp.Star) for p in projections):
        return [_tidy(c) for c in columns]
    out = []
    for name, proj in zip(columns, projections, strict=True):
        if isinstance(proj, exp.Alias | exp.Column):
            out.append(name)
        else:
            out.append(proj.sql(dialect="athena", normalize_functions="lower"))
    return out


def _tidy(name: str) -> str:
    return "count(*)" if name == "count_star()" else name


def print_table(result: QueryResult, sql: str | None = None) -> None:
    """The whole table, never cut: the console is as wide as the widest row needs."""
    headers = readable_columns(sql, result.columns)
    cells = [[display_value(v) for v in row] for row in result.rows]
    table = Table()
    for i, header in enumerate(headers):
        numeric = bool(cells) and all(_numeric(r[i]) for r in cells if r[i] != "")
        table.add_column(
            header, justify="right" if numeric else "left", no_wrap=True, overflow="fold"
        )
    for row in cells:
        table.add_row(*row)
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    Console(width=max(80, sum(widths) + 3 * len(widths) + 1)).print(table)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
