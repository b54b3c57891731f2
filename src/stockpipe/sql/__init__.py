"""SQL over the lake: Athena SQL files that run on DuckDB locally and on Athena in AWS.

from stockpipe.sql import run_query, run_named_query
run_query("SELECT symbol, count(*) FROM bars GROUP BY 1")
run_named_query("symbol_series", {"symbol": "AAPL", "from_ts": "2026-01-05",
                                  "to_ts": "2026-01-06"}).to_dicts()
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from stockpipe.config import Settings, get_settings
from stockpipe.errors import ConfigError, StockpipeError
from stockpipe.sql.base import QueryResult, SqlEngine, estimate_cost_usd
from stockpipe.sql.catalog import NamedQuery, get_named_query
from stockpipe.sql.catalog import list_named_queries as _list_named_queries

ENGINES = ("duckdb", "athena")

_cache: dict[tuple[Any, ...], SqlEngine] = {}
_cache_lock = threading.Lock()


def get_engine(settings: Settings | None = None, engine: str | None = None) -> SqlEngine:
    """The engine for these settings, reused across calls (DuckDB keeps its views)."""
    settings = settings or get_settings()
    name = (engine or settings.sql).lower()
    if name not in ENGINES:
        raise ConfigError(f"unknown SQL engine {name!r}; use one of: {', '.join(ENGINES)}")
    if name == "duckdb":
        key: tuple[Any, ...] = ("duckdb", settings.lake_location)
    else:
        key = (
            "athena",
            settings.aws_region,
            settings.athena_database,
            settings.athena_workgroup,
            settings.athena_output,
        )
    with _cache_lock:
        if key not in _cache:
            if name == "duckdb":
                from stockpipe.lake import open_lake
                from stockpipe.sql.duckdb import DuckDBEngine

                _cache[key] = DuckDBEngine(open_lake(settings.lake_location))
            else:
                from stockpipe.sql.athena import AthenaEngine

                _cache[key] = AthenaEngine.from_settings(settings)
        return _cache[key]


def reset_engines() -> None:
    """Forget cached engines (tests, or after the lake location changed)."""
    with _cache_lock:
        for eng in _cache.values():
            close = getattr(eng, "close", None)
            if close:
                close()
        _cache.clear()


def run_query(
    sql: str,
    params: Sequence[Any] | None = None,
    *,
    settings: Settings | None = None,
    engine: str | None = None,
) -> QueryResult:
    """Run one Athena-dialect statement; `params` bind its `?` placeholders in order."""
    return get_engine(settings, engine).execute(sql, params)


def run_named_query(
    name: str,
    params: Mapping[str, str] | None = None,
    *,
    settings: Settings | None = None,
    engine: str | None = None,
) -> QueryResult:
    """Run src/stockpipe/sql/athena_queries/queries/<name>.sql with parameters given by name (strings)."""
    query = get_named_query(name)
    values = query.bind(dict(params or {}))
    return get_engine(settings, engine).execute(query.sql, values, query=query.name)


def list_named_queries() -> list[NamedQuery]:
    return _list_named_queries()


_SYMBOLS_SQL = "SELECT DISTINCT symbol FROM daily ORDER BY symbol"


def missing_symbol_hint(
    params: Mapping[str, str], *, settings: Settings | None = None
) -> str | None:
    """Why a named query with `symbol=X` matched nothing, when X is not in the lake.

    None when no single symbol was asked for, when it is in the lake, or when the lake
    cannot be asked (the hint is a courtesy, never a second error).
    """
    symbol = params.get("symbol", "").strip()
    if not symbol or "," in symbol:
        return None
    try:
        known = [str(r[0]) for r in get_engine(settings).execute(_SYMBOLS_SQL).rows]
    except StockpipeError:
        return None
    if symbol in known:
        return None
    shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "") if known else "none yet"
    return f"hint: no bars for symbol {symbol!r} in the lake; symbols in the lake: {shown}"


__all__ = [
    "ENGINES",
    "NamedQuery",
    "SqlEngine",
    "QueryResult",
    "estimate_cost_usd",
    "get_engine",
    "list_named_queries",
    "missing_symbol_hint",
    "reset_engines",
    "run_named_query",
    "run_query",
]
