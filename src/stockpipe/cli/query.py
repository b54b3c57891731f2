"""`stockpipe query` (SQL over the lake) and `stockpipe athena setup|ddl`."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer

from stockpipe.cli.common import settings_from
from stockpipe.cli.query_output import print_table
from stockpipe.config import env_help
from stockpipe.errors import ConfigError
from stockpipe.sql import (
    QueryResult,
    list_named_queries,
    missing_symbol_hint,
    run_named_query,
    run_query,
)
from stockpipe.sql.catalog import QUERIES_ROOT, get_named_query

FORMATS = ("table", "csv", "json")

athena_app = typer.Typer(
    help="Create and inspect the Athena tables and views.", no_args_is_help=True
)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def render(result: QueryResult, fmt: str) -> str:
    """The result as csv or json text (the table format prints through rich)."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[_cell(v) for v in row] for row in result.rows])
        return buf.getvalue()
    if fmt == "json":
        rows = [{k: _cell(v) for k, v in d.items()} for d in result.to_dicts()]
        return json.dumps(rows, indent=2, allow_nan=False, default=str) + "\n"
    raise ConfigError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")


def _list(name: str | None) -> None:
    """Every named query, or with --name only that one (its parameters and purpose)."""
    queries = list_named_queries()
    if name is not None:
        queries = [get_named_query(name)]  # an unknown name is an error listing the names
    for q in queries:
        params = ", ".join(
            f"{p.name} {p.type}" + ("" if p.default is None else f" = '{p.default}'")
            for p in q.params
        )
        typer.echo(f"{q.name}({params})  pruning: {q.pruning}\n    {q.purpose}")


def _parse_params(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {item!r} must look like name=value, e.g. symbol=AAPL")
        out[key.strip()] = value
    return out


def query(
    ctx: typer.Context,
    *,
    sql: str = typer.Argument(
        None, help='Athena SQL, e.g. "SELECT symbol, count(*) FROM bars GROUP BY 1".'
    ),
    name: str = typer.Option(
        None,
        "--name",
        "-n",
        help="Run src/stockpipe/sql/athena_queries/queries/<name>.sql instead.",
    ),
    param: list[str] = typer.Option(
        [],
        "--param",
        "-p",
        help="Named query: name=value (repeatable). Ad-hoc SQL: one value per ? placeholder, in order.",
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="Output: table, csv or json."),
    engine: str = typer.Option(
        None, "--engine", help=f"duckdb (local) or athena {env_help('sql')}"
    ),
    lake: str = typer.Option(None, "--lake", help=f"Lake folder or s3:// URI {env_help('lake')}"),
    list_queries: bool = typer.Option(
        False, "--list", help="List the named queries (with --name: describe that one) and exit."
    ),
) -> None:
    """Run SQL over the lake: tables bars, daily, quarantine, raw, and the views."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is not one of: {', '.join(FORMATS)}")
    if list_queries:
        _list(name)
        return
    if (sql is None) == (name is None):
        raise ConfigError("pass either SQL text or --name NAME (see --list for the names)")
    settings = settings_from(ctx, lake=lake, sql=engine)
    if name is not None:
        result = run_named_query(name, _parse_params(param), settings=settings)
    else:
        # Ad-hoc SQL: values are bound to ? in order, never pasted into the text.
        result = run_query(sql, list(param), settings=settings)
    if fmt == "table":
        if result.rows:
            print_table(result, sql)
        else:
            typer.echo("0 rows")
    else:
        sys.stdout.write(render(result, fmt))
    if not result.rows and name is not None:
        hint = missing_symbol_hint(_parse_params(param), settings=settings)
        if hint:
            typer.echo(hint, err=True)
    if result.scanned_bytes is not None:
        typer.echo(
            f"scanned {result.scanned_bytes:,} bytes, estimated cost ${result.cost_usd:.6f} "
            "($5/TB, 10 MB minimum)",
            err=True,
        )


@athena_app.command("setup")
def athena_setup(
    ctx: typer.Context,
    *,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the statements instead of running them."
    ),
    lake: str = typer.Option(
        None, "--lake", help=f"s3:// lake the tables point at {env_help('lake')}"
    ),
) -> None:
    """Create the database, tables and views in Athena (idempotent; safe to re-run)."""
    from stockpipe.sql.athena import AthenaEngine, run_setup, setup_statements

    settings = settings_from(ctx, lake=lake)
    statements = setup_statements(settings.lake_location, settings.athena_database)
    if dry_run:
        for s in statements:
            typer.echo(f"-- {s.label}\n{s.sql};\n")
        return
    engine = AthenaEngine.from_settings(settings)
    for label, _ in run_setup(engine, statements):
        typer.echo(f"ok  {label}")


@athena_app.command("ddl")
def athena_ddl(
    *,
    write: bool = typer.Option(
        False, "--write", help="Rewrite src/stockpipe/sql/athena_queries/ddl/ from the contract."
    ),
) -> None:
    """Print (or rewrite) the Athena DDL generated from stockpipe.contract."""
    from stockpipe.sql.ddl import render_all, write_all

    if write:
        for path in write_all(QUERIES_ROOT / "ddl"):
            typer.echo(f"wrote {path}")
        return
    for name, text in render_all().items():
        typer.echo(f"-- file: {Path('ddl') / name}\n{text}")


def register(app: typer.Typer) -> None:
    app.command("query")(query)
    app.add_typer(athena_app, name="athena")
