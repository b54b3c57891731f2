"""The terminal status panel of `stockpipe run` and `stockpipe status`: fits 80x24.

One line per fact a data engineer checks: the phase, the clock, each stage's rate and
lag, processed / quarantined / duplicates, the last bar, the dashboard URL and the last
warning. Shard sequence numbers (20 digits each) live in `status --json` only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stockpipe.calendar import EXCHANGE_TZ

WIDTH = 80
VALUE_WIDTH = 62  # WIDTH minus borders, padding and the label column


def _n(value: int | float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _rate(value: float | None) -> str:
    return "- rec/s" if value is None else f"{value:,.0f} rec/s"


def _lag(stage: dict[str, Any]) -> str:
    text = f"lag {_n(stage.get('lag_records'))} records"
    ms = stage.get("lag_ms")
    if isinstance(ms, int | float):
        text += f" ({ms / 1000:.1f} s)"
    return text


def _last_bar(last: datetime | None) -> str:
    if last is None:
        return "-"
    local = last.astimezone(EXCHANGE_TZ)
    return f"{local:%a %Y-%m-%d %H:%M} ET ({last:%H:%M} UTC)"


def _short(text: str, width: int = VALUE_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _state(report: dict[str, Any], stopped: str | None) -> str:
    if stopped is not None:
        return stopped
    if report.get("running"):
        return f"running (pid {report.get('pid')})"
    result = str(report.get("result") or "")
    # The last run's verdict: "stopped cleanly", or "stopped, failed: process killed by ...".
    if not result:
        return "stopped"
    return result if result.startswith("stopped") else f"stopped, {result}"


def render_panel(report: dict[str, Any], stopped: str | None = None) -> Panel:
    """The panel for one status reading; `stopped` replaces the state line after a run."""
    stages = report.get("stages", {})
    counters = report.get("counters", {})
    grid = Table.grid(padding=(0, 2))
    grid.add_column("what", style="bold", no_wrap=True, width=12)
    grid.add_column("value", no_wrap=True, overflow="ellipsis", max_width=VALUE_WIDTH)

    def row(label: str, value: str) -> None:
        grid.add_row(label, Text(_short(value)))

    row("state", _state(report, stopped))
    row("phase", report.get("phase") or "-")
    row("clock", report.get("clock") or "-")
    ingest = stages.get("ingest", {})
    row("ingest", f"{_rate(ingest.get('rate'))} · {_n(ingest.get('in_stream'))} in stream")
    for name in ("archive", "process"):
        stage = stages.get(name, {})
        row(name, f"{_rate(stage.get('rate'))} · {_lag(stage)}")
    read = counters.get("read")
    row("processed", f"{_n(counters.get('kept'))} bars kept of {_n(read)} read")
    row("quarantined", _n(counters.get("quarantined")))
    row("duplicates", _n(counters.get("duplicates")))
    row("last bar", _last_bar(report.get("last_bar")))
    row("dashboard", report.get("url") or "-")
    warning = report.get("warning")
    if isinstance(warning, dict) and warning.get("message"):
        at = str(warning.get("updated_at", ""))[11:19]
        row("last warning", f"{at} {warning.get('stage', '?')}: {warning['message']}")
    else:
        row("last warning", "none")
    return Panel(Group(grid), title="stockpipe", title_align="left", width=WIDTH)
