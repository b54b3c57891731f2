"""Scenario 6, queries: each named dashboard query over `symbols` x `sessions` of 1-minute
bars (100 x 252, about 10M), through `stockpipe.sql.run_named_query` on DuckDB, exactly
what `stockpipe query --name ...` and the dashboard run.

The dashboard's queries (dashboard_*.sql) get the parameters of its default view (the
latest session, 4 symbols, 1-minute bars), resolved with the dashboard's own code; the
core queries get a comparable view (the latest session, or the last 20 sessions for the
per-session ones). The lake is a cached fixture (see bench/fixtures.py).

    python bench/scenarios/queries.py --symbols 100 --sessions 252 --runs 20
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness
import issue21
from harness import Size

ID = "queries"
TITLE = "Named dashboard queries"
SIZES = {
    "symbols": Size(100, 4, "symbols in the lake"),
    "sessions": Size(252, 3, "sessions of 1-minute bars (252 = one year)"),
    "runs": Size(20, 3, "timed runs per query, after one warm-up run"),
}
TARGET_P95_MS = issue21.QUERY_P95_MS  # issue #12 set 150 ms; issue #21 sets 100
CORE = (
    "latest_kpis",
    "symbol_series",
    "compare_normalized",
    "heatmap",
    "daily_movers",
    "volume_by_symbol",
)


def query_params(symbols: list[str], sessions: list[Any]) -> dict[str, dict[str, str]]:
    """Parameters per query, derived from what the lake holds."""
    from stockpipe import calendar
    from stockpipe.dashboard.base import Window, iso_z, parse_filters, resolve_window
    from stockpipe.dashboard.rollup import lookback_start

    shown = symbols[:4]  # the dashboard's default selection is at most 4 symbols
    first_open = calendar.session_bounds(sessions[0])[0]
    last_open, last_close = calendar.session_bounds(sessions[-1])
    last_ts = last_close - timedelta(minutes=1)
    window = resolve_window(parse_filters({"window": "1d"}), first_open, last_ts)
    dash = {
        "symbols": ",".join(shown),
        "interval": "1min",
        "from_ts": iso_z(window.start),
        "to_ts": iso_z(window.end),
        "from_dt": window.from_dt,
        "to_dt": window.to_dt,
    }
    # The rollup runs for the 5-session window at its default 5-minute bars, with the
    # lookback the dashboard reads to warm the indicators up.
    five = resolve_window(parse_filters({"window": "5d"}), first_open, last_ts)
    five = Window(max(first_open, lookback_start(five.start, "5m")), five.end)
    rollup = {
        **dash,
        "from_ts": iso_z(five.start),
        "from_dt": five.from_dt,
        "bucket_seconds": "300",
    }
    month_ago = sessions[max(0, len(sessions) - 20)].isoformat()
    session = {"from_ts": iso_z(last_open), "to_ts": iso_z(last_close)}
    return {
        "dashboard_catalog": {},
        "dashboard_kpis": {k: dash[k] for k in ("symbols", "interval", "to_ts", "to_dt")},
        "dashboard_series": dash,
        "dashboard_buckets": {"bucket_seconds": str(window.bucket_seconds("1min")), **dash},
        "dashboard_rollup": rollup,
        "dashboard_last_session": {},
        "latest_kpis": {},
        "symbol_series": {"symbol": shown[0], **session},
        "compare_normalized": {"symbols": ",".join(shown), **session},
        "heatmap": dict(session),
        "daily_movers": {"from": month_ago},
        "volume_by_symbol": {"from": month_ago, "to": sessions[-1].isoformat()},
    }


def run(symbols: int, sessions: int, runs: int) -> dict[str, Any]:
    import workloads

    import fixtures
    from stockpipe.config import load_settings
    from stockpipe.sql import list_named_queries, run_named_query

    started = time.perf_counter()
    lake = fixtures.processed_lake(symbols, sessions)
    fixture_s = time.perf_counter() - started
    settings = load_settings({"lake": str(lake), "sql": "duckdb"}).settings
    syms = workloads.symbols(symbols)
    days = workloads.sessions(sessions, workloads.YEAR_START)
    params = query_params(syms, days)
    pruning = {q.name: q.pruning for q in list_named_queries()}
    known = set(pruning)
    names = sorted(n for n in known if n.startswith("dashboard_")) + [n for n in CORE if n in known]
    missing = [n for n in params if n not in known]
    rows, targets = [], []
    for name in names:
        if name not in params:
            raise RuntimeError(f"named query {name!r} is new: give it parameters in {__file__}")
        result = run_named_query(name, params[name], settings=settings)  # warm-up
        durations = []
        for _ in range(runs):
            seconds, _res = harness.timed(
                lambda n=name: run_named_query(n, params[n], settings=settings)
            )
            durations.append(seconds * 1000)
        p50, p95 = harness.percentile(durations, 50), harness.percentile(durations, 95)
        rows.append(
            {
                "query": name,
                "rows returned": len(result),
                "p50 ms": round(p50, 1),
                "p95 ms": round(p95, 1),
                "max ms": round(max(durations), 1),
            }
        )
        targets.append(
            harness.target(
                f"{name} p95",
                round(p95, 1),
                "<=",
                TARGET_P95_MS,
                "ms",
                f"p95 over the limit on DuckDB; the query's own note on partition pruning: "
                f"{pruning[name]}",
            )
        )
    bars = symbols * sessions * 390
    notes = [
        f"{bars:,} bars in {sessions} daily partitions; fixture ready in {fixture_s:.0f} s "
        "(built once, then cached; see bench/README.md)",
        f"{runs} timed runs per query after one warm-up; percentiles interpolate linearly",
        "dashboard queries use the dashboard's default view: latest session ('1d'), "
        "4 symbols, 1min (dashboard_rollup: 5 sessions at 5 min); parameters per query are in bench/scenarios/queries.py",
    ]
    if missing:
        notes.append(f"queries not in the catalog (skipped): {', '.join(missing)}")
    return {"metrics": {"bars": bars}, "targets": targets, "rows": rows, "notes": notes}


if __name__ == "__main__":
    harness.ensure_bench_on_path()
    sys.exit(harness.scenario_main("scenarios.queries"))
