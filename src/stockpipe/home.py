"""What STOCKPIPE_HOME says about a run, read without creating anything.

`stockpipe run` holds an `flock` on `$STOCKPIPE_HOME/run.lock` (pipeline/homelock.py) and
writes small JSON files under `$STOCKPIPE_HOME/state/` (pipeline/runstate.py):

- `run.json`: pid, dashboard URL, each stage's state, the exit verdict;
- `ingest.json`: the ingest stage's phase ("backfill" with sessions done/total, then
  "live"), the simulated clock and speed, about once a second;
- `warning.json`: the last warning any stage logged, with its stage and time.

This module only reads them, so every layer may: `stockpipe status`, the live status view
and the dashboard's health panel (which sits below the pipeline) share it. Reading never
creates a file or a folder: `status` on an empty home leaves it empty.
"""

from __future__ import annotations

import fcntl
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from stockpipe.calendar import EXCHANGE_TZ

LOCK_NAME = "run.lock"
RUN = "run.json"
INGEST = "ingest.json"
WARNING = "warning.json"


def lock_path(home: Path) -> Path:
    return Path(home) / LOCK_NAME


def describe_lock(path: Path) -> dict[str, Any]:
    """What the lock file says about its holder ({"pid", "started_at", ...}), or {}."""
    try:
        doc = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def holder(home: Path) -> dict[str, Any] | None:
    """Who holds the home lock ({"pid", "started_at", ...}), or None. Creates nothing."""
    path = lock_path(home)
    try:
        fh = open(path)  # noqa: SIM115 - closed below; read-only, so nothing is created
    except FileNotFoundError:
        return None
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return describe_lock(path) or {"pid": None}
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return None


def read_state(state_dir: Path, name: str) -> dict[str, Any] | None:
    """The document, or None when absent or unreadable. Never creates a file or folder."""
    try:
        doc = json.loads((Path(state_dir) / name).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def phase_text(progress: dict[str, Any] | None) -> str:
    """ "backfill 3/5 sessions", "live", "done", or "-" when nothing is known."""
    if not progress or not progress.get("phase"):
        return "-"
    phase = str(progress["phase"])
    if phase == "backfill":
        done, total = progress.get("sessions_done"), progress.get("sessions_total")
        if isinstance(done, int) and isinstance(total, int):
            return f"backfill {done}/{total} sessions"
    return phase


def clock_text(progress: dict[str, Any] | None) -> str:
    """ "simulated Mon 2026-12-07 10:41 ET, 60x" (in the exchange's time zone), or "-"."""
    if not progress or not progress.get("clock"):
        return "-"
    try:
        ts = datetime.fromisoformat(str(progress["clock"]))
    except ValueError:
        return "-"
    if ts.tzinfo is None:
        return "-"
    local = ts.astimezone(EXCHANGE_TZ)
    text = f"simulated {local:%a %Y-%m-%d %H:%M} ET"
    speed = progress.get("speed")
    if progress.get("phase") == "backfill" or not isinstance(speed, int | float):
        return text + ", backfill"
    return text + f", {speed:g}x"


def pipeline_state(settings: Any) -> dict[str, Any]:
    """For the dashboard: is a run holding the home, its phase and its clock.

    {"running": bool, "phase": "backfill 3/5 sessions" | "live" | ..., "backfill": bool,
    "clock": "simulated Mon 2026-12-07 10:41 ET, 60x", "clock_ts": ISO or None}.
    """
    running = holder(settings.home) is not None
    progress = read_state(settings.state_dir, INGEST) if running else None
    return {
        "running": running,
        "phase": phase_text(progress) if running else "stopped",
        "backfill": bool(progress and progress.get("phase") == "backfill"),
        "clock": clock_text(progress),
        "clock_ts": (progress or {}).get("clock"),
    }
