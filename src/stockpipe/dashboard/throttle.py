"""How often the dashboard may ask Athena, and for which partitions.

Locally DuckDB answers in milliseconds for nothing, so every refresh re-runs the named
queries. On Athena each query is billed (at least 10 MB scanned) and takes seconds, and
a browser refreshing every 5 s would run four queries each time, one of them a scan of
every `bars` partition. So on Athena:

- answers are cached per (query, parameters): `ATHENA_QUERY_TTL_S` for the window
  queries, `ATHENA_CATALOG_TTL_S` for the catalog. Several browser tabs share them;
- every query carries literal `dt` bounds. A bound computed by a subquery does not
  prune under partition projection, so the catalog reads the `ATHENA_CATALOG_DAYS`
  days up to the last session in `daily` (asked first, `dashboard_last_session`) and
  the KPIs the `KPI_LOOKBACK_DAYS` days before the window's end (enough for the
  previous session across any exchange holiday).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any

ATHENA_QUERY_TTL_S = 60.0
ATHENA_CATALOG_TTL_S = 300.0
ATHENA_CATALOG_DAYS = 35  # the longest preset window ("1m") plus slack
KPI_LOOKBACK_DAYS = 10
CACHE_MAX_ENTRIES = 256


def catalog_from_dt(last_session: date) -> str:
    return (last_session - timedelta(days=ATHENA_CATALOG_DAYS)).isoformat()


def kpi_from_dt(to_dt: str) -> str:
    return (date.fromisoformat(to_dt) - timedelta(days=KPI_LOOKBACK_DAYS)).isoformat()


class QueryCache:
    """A small TTL cache of named-query answers, keyed by name and parameters."""

    def __init__(
        self,
        ttl: Callable[[str], float],
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = CACHE_MAX_ENTRIES,
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self.max_entries = max_entries
        self._entries: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get_or_run(self, name: str, params: Mapping[str, str], run: Callable[[], Any]) -> Any:
        key = (name, tuple(sorted(params.items())))
        now = self._clock()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < self.ttl(name):
                return hit[1]
        value = run()  # errors are not cached: the next refresh tries again
        with self._lock:
            if len(self._entries) >= self.max_entries:
                # Drop the oldest answer; a dashboard needs only its current views.
                oldest = min(self._entries, key=lambda k: self._entries[k][0])
                del self._entries[oldest]
            self._entries[key] = (now, value)
        return value


def athena_ttl(name: str) -> float:
    slow = ("dashboard_catalog", "dashboard_last_session")
    return ATHENA_CATALOG_TTL_S if name in slow else ATHENA_QUERY_TTL_S
