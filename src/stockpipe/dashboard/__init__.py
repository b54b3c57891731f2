"""The live web dashboard: Plotly.js charts over the SQL layer's named queries.

`start_dashboard(settings, host, port, refresh)` (alias `serve`) runs it in a background
thread and returns a handle with `.url` and `.stop()`; `run_dashboard` serves in the
foreground for `stockpipe dashboard`.
"""

from __future__ import annotations

from stockpipe.dashboard.base import FilterError, Filters, parse_filters
from stockpipe.dashboard.server import (
    DashboardHandle,
    create_app,
    run_dashboard,
    serve,
    start_dashboard,
)

__all__ = [
    "DashboardHandle",
    "FilterError",
    "Filters",
    "create_app",
    "parse_filters",
    "run_dashboard",
    "serve",
    "start_dashboard",
]
