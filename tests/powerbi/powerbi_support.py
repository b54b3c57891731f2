"""Helpers for the Power BI tests: paths, Microsoft's schemas, a tiny hand-made lake.

The schemas are vendored in `tests/fixtures/powerbi-schemas` (Microsoft's, MIT); every
`$ref` resolves offline from that folder.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from stockpipe.contract import BARS, DAILY

REPO_ROOT = Path(__file__).resolve().parents[2]
POWER_BI = REPO_ROOT / "power-bi"
QUERIES = REPO_ROOT / "src" / "stockpipe" / "sql" / "athena_queries" / "queries"
# Vendored from microsoft/json-schemas (MIT; see SOURCE.md there for the commit).
SCHEMAS_DIR = REPO_ROOT / "tests" / "fixtures" / "powerbi-schemas"
SCHEMA_URL_PREFIX = "https://developer.microsoft.com/json-schemas/fabric/"


def schemas_dir() -> Path:
    if not (SCHEMAS_DIR / "SOURCE.md").is_file():
        pytest.fail(
            f"Microsoft's Power BI JSON schemas are missing: expected {SCHEMAS_DIR} "
            "(they are vendored in the repository: restore tests/fixtures/powerbi-schemas)",
            pytrace=False,
        )
    return SCHEMAS_DIR


def _refuse(uri: str) -> Resource:
    # Offline by design: anything not in the vendored folder is an error, never a download.
    raise NoSuchResource(ref=uri)


def build_schema_registry() -> Registry:
    """Every schema file, under its URL (prefix + path) and, when it differs, its `$id`."""
    root = schemas_dir()
    resources: dict[str, Resource] = {}
    by_id: dict[str, Resource] = {}
    for path in sorted(root.rglob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(doc)
        resources[SCHEMA_URL_PREFIX + path.relative_to(root).as_posix()] = resource
        if isinstance(doc.get("$id"), str):
            by_id[doc["$id"]] = resource
    # Some embedded schemas declare an `$id` unlike their file name (schema.embedded.json);
    # register those too, without shadowing a real file of the same URL.
    for uri, resource in by_id.items():
        resources.setdefault(uri, resource)
    return Registry(retrieve=_refuse).with_resources(resources.items())


def schema_for(url: str) -> dict[str, Any]:
    assert url.startswith(SCHEMA_URL_PREFIX), f"$schema {url} is not a Microsoft fabric schema URL"
    path = schemas_dir() / url[len(SCHEMA_URL_PREFIX) :]
    assert path.is_file(), f"$schema {url} has no local copy at {path}"
    return json.loads(path.read_text(encoding="utf-8"))


# --- a tiny lake, written with the contract schemas -------------------------------------

SESSIONS = ("2026-03-02", "2026-03-03", "2026-03-04")
# A session in daily only (no bars), so volatility windows can hold three returns.
EXTRA_DAILY_SESSION = "2026-03-05"


def _ts(dt: str, minute: int) -> datetime:
    y, m, d = (int(x) for x in dt.split("-"))
    # 14:30 UTC = 09:30 New York (EST) on these dates.
    return datetime(y, m, d, 14, 30 + minute, tzinfo=UTC)


def fixture_bars() -> list[dict[str, Any]]:
    """Hand-made bars: AAPL 1min (3 sessions x 4 bars), AAPL 5min and MSFT 1min as decoys."""
    rows: list[dict[str, Any]] = []
    aapl = {
        # dt: list of (open, high, low, close, volume, sma_20, sma_50)
        SESSIONS[0]: [
            (100.0, 101.0, 99.5, 100.5, 1000, 10.0, 11.0),
            (100.5, 102.0, 100.0, 101.5, 1500, 12.0, 11.0),  # golden cross
            (101.5, 101.8, 100.2, 100.8, 500, 10.5, 11.0),
            (100.8, 101.2, 100.1, 101.0, 2000, None, 11.0),
        ],
        SESSIONS[1]: [
            (101.0, 103.0, 100.9, 102.7, 1200, 11.5, 11.2),  # golden: null bar skipped
            (102.7, 103.5, 102.0, 103.1, 800, 11.0, 11.2),
            (103.1, 104.0, 102.9, 103.9, 900, 11.3, 11.2),  # golden cross
            (103.9, 104.2, 103.0, 103.4, 1100, 11.3, 11.2),
        ],
        SESSIONS[2]: [
            (103.4, 103.6, 101.0, 101.2, 3000, 11.0, 11.0),
            (101.2, 102.5, 101.0, 102.4, 2500, 11.1, 11.0),  # golden cross (prev equal)
            (102.4, 102.9, 101.9, 102.0, 1000, 10.9, 11.0),
            (102.0, 102.2, 100.5, 100.9, 4000, 11.4, 11.0),  # golden cross
        ],
    }
    for dt, bars in aapl.items():
        for i, (o, h, low, c, v, s20, s50) in enumerate(bars):
            rows.append(_bar("AAPL", "1min", _ts(dt, i), dt, o, h, low, c, v, s20, s50))
    for dt in SESSIONS:
        # Decoys with extreme values: a query that leaks across symbol or interval breaks.
        rows.append(
            _bar("AAPL", "5min", _ts(dt, 10), dt, 900.0, 990.0, 800.0, 950.0, 99999, 99.0, 1.0)
        )
        rows.append(
            _bar("MSFT", "1min", _ts(dt, 10), dt, 400.0, 420.0, 390.0, 410.0, 77777, 1.0, 99.0)
        )
    return rows


def _bar(
    symbol: str,
    interval: str,
    ts: datetime,
    dt: str,
    o: float,
    h: float,
    low: float,
    c: float,
    v: int,
    s20: float | None,
    s50: float | None,
) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in BARS.column_names}
    row.update(
        symbol=symbol,
        interval=interval,
        ts=ts,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=v,
        source="simulator",
        session="regular",  # 09:30-09:40 New York time
        sma_20=s20,
        sma_50=s50,
        dt=dt,
    )
    return row


def fixture_daily() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    aapl = {  # dt: (open, high, low, close)
        SESSIONS[0]: (100.0, 102.0, 99.5, 101.0),
        SESSIONS[1]: (101.0, 104.2, 100.9, 103.4),
        SESSIONS[2]: (103.4, 103.6, 100.5, 100.9),
        EXTRA_DAILY_SESSION: (100.9, 105.0, 100.0, 104.8),
    }
    for dt, (o, h, low, c) in aapl.items():
        rows.append(_daily("AAPL", dt, o, h, low, c))
        rows.append(_daily("MSFT", dt, 400.0, 480.0, 300.0, 410.0 + len(rows)))
    return rows


def _daily(symbol: str, dt: str, o: float, h: float, low: float, c: float) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in DAILY.column_names}
    row.update(
        symbol=symbol,
        interval="1min",
        open=o,
        high=h,
        low=low,
        close=c,
        volume=1000,
        bar_count=4,
        pre_volume=0,
        post_volume=0,
        dt=dt,
    )
    return row


def _write(root: Path, prefix: str, schema: pa.Schema, rows: list[dict[str, Any]], name) -> None:
    by_file: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        by_file.setdefault((r["dt"], name(r)), []).append(r)
    for (dt, fname), group in by_file.items():
        folder = root / prefix / f"dt={dt}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(
            [{k: r[k] for k in schema.names} for r in group], schema=schema
        )
        pq.write_table(table, folder / fname)


def write_fixture_lake(root: Path) -> Path:
    _write(
        root, BARS.prefix, BARS.arrow_schema(), fixture_bars(), lambda r: f"{r['symbol']}.parquet"
    )
    _write(root, DAILY.prefix, DAILY.arrow_schema(), fixture_daily(), lambda r: "part-0.parquet")
    return root
