"""The dashboard's data: every panel is built from the SQL layer's named queries.

Nothing here reads the lake's Parquet files directly, so the same code serves DuckDB
locally and Athena on AWS (`STOCKPIPE_SQL`). Values are normalized to JSON-friendly
types (ISO 8601 'Z' strings for times, floats, None for NaN) because engines return
different Python types for the same column.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from stockpipe.calendar import SESSION_SECONDS, sessions_between
from stockpipe.config import Settings
from stockpipe.contract import BARS
from stockpipe.dashboard import rollup
from stockpipe.dashboard.base import (
    DISPLAY_INTERVALS,
    FilterError,
    Filters,
    Window,
    default_interval,
    iso_z,
    resolve_window,
)
from stockpipe.dashboard.throttle import QueryCache, athena_ttl, catalog_from_dt, kpi_from_dt
from stockpipe.errors import LakeError, QueryError, StockpipeError
from stockpipe.lake import manifest

Row = dict[str, Any]
QueryRunner = Callable[[str, Mapping[str, str]], list[Row]]

SERIES_FIELDS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "sma_20",
    "sma_50",
    "ema_12",
    "ema_26",
    "vwap",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "norm_close",
)
KPI_FIELDS = (
    "last_price",
    "reference_price",
    "change",
    "change_pct",
    "session_high",
    "session_low",
    "volume",
    "vwap",
)


def to_datetime(value: Any) -> datetime:
    """A UTC datetime from what an engine returns for a timestamp column."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = str(value).strip()
    # Athena renders timestamps as '2026-01-02 14:30:00.000 UTC'.
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def to_number(value: Any) -> float | int | None:
    if type(value) is float:  # the common case (DuckDB's doubles), checked first
        return value if math.isfinite(value) else None
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        value = float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    # JSON has no NaN; an indicator still warming up is simply absent.
    return None if math.isnan(number) or math.isinf(number) else number


def sql_runner(settings: Settings) -> QueryRunner:
    """Run named queries through `stockpipe.sql` with these settings."""

    def run(name: str, params: Mapping[str, str]) -> list[Row]:
        from stockpipe.sql import run_named_query

        return list(run_named_query(name, params, settings=settings).to_dicts())

    return run


@dataclass
class Catalog:
    """What the lake holds: per (symbol, interval) the first/last bar and bar count."""

    rows: list[Row]

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def symbols(self) -> list[str]:
        return sorted({r["symbol"] for r in self.rows})

    def stored_intervals(self, symbols: tuple[str, ...]) -> list[str]:
        """Stored intervals of these symbols (of every symbol when none is selected)."""
        found = {r["interval"] for r in self.rows if not symbols or r["symbol"] in symbols}
        return sorted(found, key=_interval_order)

    def span(
        self, symbols: tuple[str, ...], interval: str | None = None
    ) -> tuple[datetime, datetime] | None:
        chosen = [
            r
            for r in self.rows
            if r["symbol"] in symbols and (interval is None or r["interval"] == interval)
        ]
        if not chosen:
            return None
        return min(r["first_ts"] for r in chosen), max(r["last_ts"] for r in chosen)

    def to_json(self) -> list[Row]:
        return [
            {**r, "first_ts": iso_z(r["first_ts"]), "last_ts": iso_z(r["last_ts"])}
            for r in self.rows
        ]


def _interval_order(interval: str) -> int:
    from stockpipe.contract import INTERVALS

    return INTERVALS.index(interval) if interval in INTERVALS else len(INTERVALS)


class DashboardData:
    """Builds the JSON of every panel for one set of filters."""

    def __init__(
        self, settings: Settings, runner: QueryRunner | None = None, lake: Any = None
    ) -> None:
        self.settings = settings
        self.runner = runner or sql_runner(settings)
        self._lake = lake
        # One query at a time: an embedded DuckDB connection is not meant to be shared
        # by the server's worker threads, and a dashboard needs no query parallelism.
        self._lock = threading.Lock()
        # Athena is billed per query: cache answers and bound partitions (throttle.py).
        self.athena = settings.sql == "athena"
        self.cache = QueryCache(athena_ttl) if self.athena else None

    def lake(self) -> Any:
        if self._lake is None:
            from stockpipe.lake import open_lake

            self._lake = open_lake(self.settings.lake_location)
        return self._lake

    def query(self, name: str, params: Mapping[str, str] | None = None) -> list[Row]:
        params = dict(params or {})
        if self.cache is not None:
            rows: list[Row] = self.cache.get_or_run(name, params, lambda: self._run(name, params))
            return rows
        return self._run(name, params)

    def _run(self, name: str, params: dict[str, str]) -> list[Row]:
        with self._lock:
            try:
                return self.runner(name, params)
            except StockpipeError:
                raise
            except (ImportError, OSError) as exc:
                raise QueryError(
                    f"cannot run named query {name!r}: {type(exc).__name__}: {exc}; "
                    "check STOCKPIPE_SQL and that the lake is reachable"
                ) from exc

    def has_bars(self) -> bool:
        """Whether the bars table has any file its manifests name (or, for a partition
        written before manifests, any file); an empty lake is a state, not an error."""
        try:
            return manifest.has_files(self.lake(), BARS.prefix)
        except FileNotFoundError:
            return False
        except StockpipeError:
            raise
        except Exception as exc:  # noqa: BLE001 - any backend failure means "unreachable"
            raise LakeError(
                f"cannot list the lake at {self.settings.lake_location}: "
                f"{type(exc).__name__}: {exc}; check STOCKPIPE_LAKE and your credentials"
            ) from exc

    def catalog(self) -> Catalog:
        if not self.has_bars():
            return Catalog([])
        rows = []
        for r in self.query("dashboard_catalog", self._catalog_bounds()):
            rows.append(
                {
                    "symbol": str(r["symbol"]),
                    "interval": str(r["interval"]),
                    "first_ts": to_datetime(r["first_ts"]),
                    "last_ts": to_datetime(r["last_ts"]),
                    "bar_count": int(r["bar_count"]),
                }
            )
        return Catalog(rows)

    def _catalog_bounds(self) -> dict[str, str]:
        """On Athena: a literal dt bound, the last session minus ATHENA_CATALOG_DAYS."""
        if not self.athena:
            return {}
        last = self.query("dashboard_last_session")
        last_dt = last[0].get("last_dt") if last else None
        if not last_dt:
            return {}  # no daily rows yet: the lake is new and small
        return {"from_dt": catalog_from_dt(date.fromisoformat(str(last_dt)[:10]))}

    def default_symbols(self, catalog: Catalog, filters: Filters) -> tuple[str, ...]:
        """The URL's symbols; without any, up to 4 configured symbols that have bars.

        An explicit empty list stays empty: unticking every symbol must not bring the
        defaults back behind the user's back.
        """
        if filters.symbols is not None:
            return filters.symbols
        preferred = [s for s in self.settings.symbols if s in catalog.symbols]
        return tuple((preferred or catalog.symbols)[:4])

    def view(self, filters: Filters) -> Row:
        """Everything one refresh needs, for the resolved filters."""
        catalog = self.catalog()
        symbols = self.default_symbols(catalog, filters)
        stored = catalog.stored_intervals(symbols)
        offered = rollup.available_intervals(stored)
        resolved: Row = {
            "symbols": list(symbols),
            "interval": filters.interval,
            "interval_auto": filters.interval is None,
            "window": filters.window,
            "from": iso_z(filters.start) if filters.start else None,
            "to": iso_z(filters.end) if filters.end else None,
        }
        out: Row = {
            "filters": resolved,
            "catalog": catalog.to_json(),
            "intervals": offered,
            "empty": catalog.empty,
            "hint": None,
            "generated_at": iso_z(datetime.now(UTC)),
        }
        none: Row = {"kpis": [], "series": {}, "buckets": [], "window": None}
        out.update(none, bucket_seconds=None, source_interval=None, sessions=None)
        span = catalog.span(symbols)
        if span is None and filters.window == "custom" and filters.start and filters.end:
            span = (filters.start, filters.end)
        if span is None or not symbols:
            return out
        window = resolve_window(filters, *span)
        sessions = sessions_between(window.start, window.end)
        interval = filters.interval or default_interval(sessions, filters.window)
        if filters.interval is None and interval not in offered and offered:
            # The default cannot be made from what is stored (say, only daily bars):
            # take the nearest coarser interval that can, else the coarsest there is.
            coarser = [i for i in offered if DISPLAY_INTERVALS[i] >= DISPLAY_INTERVALS[interval]]
            interval = coarser[0] if coarser else offered[-1]
        resolved["interval"] = interval
        out["window"] = {"from": iso_z(window.start), "to": iso_z(window.end)}
        out["sessions"] = sessions
        source = rollup.source_interval(interval, stored)
        if source is None:
            have = ", ".join(offered) or "none"
            out["hint"] = (
                f"No {interval} bars: the lake holds {', '.join(stored)} bars for these "
                f"symbols, which make {have}. Choose one of those intervals."
            )
            return out
        out["source_interval"] = source
        csv = ",".join(symbols)
        out["kpis"] = self.kpis(csv, source, window)
        out["series"] = self.series(csv, interval, source, window)
        seconds = window.bucket_seconds(interval, sessions * SESSION_SECONDS)
        out["bucket_seconds"] = seconds
        out["buckets"] = self.buckets(csv, source, window, seconds)
        return out

    def kpis(self, csv: str, interval: str, window: Window) -> list[Row]:
        params = {
            "symbols": csv,
            "interval": interval,
            "to_ts": iso_z(window.end),
            "to_dt": window.to_dt,
        }
        if self.athena:
            params["from_dt"] = kpi_from_dt(window.to_dt)
        rows = self.query("dashboard_kpis", params)
        out = []
        for r in rows:
            item: Row = {
                "symbol": str(r["symbol"]),
                "last_ts": iso_z(to_datetime(r["last_ts"])),
                "session": str(r["session"]),
            }
            item.update({k: to_number(r.get(k)) for k in KPI_FIELDS})
            out.append(item)
        return out

    def _window_params(self, csv: str, interval: str, window: Window) -> dict[str, str]:
        return {
            "symbols": csv,
            "interval": interval,
            "from_ts": iso_z(window.start),
            "to_ts": iso_z(window.end),
            "from_dt": window.from_dt,
            "to_dt": window.to_dt,
        }

    def series(self, csv: str, interval: str, source: str, window: Window) -> dict[str, Row]:
        """Column-oriented series per symbol: {'AAPL': {'ts': [...], 'close': [...]}}.

        Stored bars at the display interval come with their stored indicators; any other
        interval is rolled up by SQL and gets its indicators from the pipeline's kernel.
        """
        if rollup.is_native(interval, source):
            rows = self.query("dashboard_series", self._window_params(csv, source, window))
        else:
            rows = self._rolled(csv, interval, source, window)
        out: dict[str, Row] = {}
        stamps: dict[Any, str] = {}  # the symbols share their bar times: convert each once
        for r in rows:
            symbol = str(r["symbol"])
            cols = out.setdefault(symbol, {"ts": [], "dt": [], **{f: [] for f in SERIES_FIELDS}})
            stamp = stamps.get(r["ts"])
            if stamp is None:
                stamp = stamps[r["ts"]] = iso_z(to_datetime(r["ts"]))
            cols["ts"].append(stamp)
            cols["dt"].append(str(r["dt"]))
            for f in SERIES_FIELDS:
                cols[f].append(to_number(r.get(f)))
        return out

    def _rolled(self, csv: str, interval: str, source: str, window: Window) -> list[Row]:
        lookback = Window(rollup.lookback_start(window.start, interval), window.end)
        params = {
            "bucket_seconds": str(DISPLAY_INTERVALS[interval]),
            **self._window_params(csv, source, lookback),
        }
        by_symbol: dict[str, list[Row]] = {}
        for r in self.query("dashboard_rollup", params):
            row: Row = {k: to_number(r[k]) for k in ("open", "high", "low", "close", "volume")}
            row.update(vwap=to_number(r["vwap"]), dt=str(r["dt"]), ts=to_datetime(r["ts"]))
            row["symbol"] = symbol = str(r["symbol"])
            by_symbol.setdefault(symbol, []).append(row)
        first = rollup.first_bucket(window.start, interval)
        out: list[Row] = []
        for symbol in sorted(by_symbol):
            out.extend(rollup.with_indicators(by_symbol[symbol], first))
        return out

    def buckets(self, csv: str, source: str, window: Window, seconds: int) -> list[Row]:
        params = {"bucket_seconds": str(seconds), **self._window_params(csv, source, window)}
        rows = self.query("dashboard_buckets", params)
        return [
            {
                "symbol": str(r["symbol"]),
                "bucket": iso_z(to_datetime(r["bucket"])),
                "volume": to_number(r["volume"]),
                "change_pct": to_number(r["change_pct"]),
                "bar_count": to_number(r["bar_count"]),
            }
            for r in rows
        ]


__all__ = ["Catalog", "DashboardData", "FilterError", "QueryRunner", "sql_runner"]
