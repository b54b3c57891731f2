"""What a running pipeline says about itself, in small JSON files under `$STOCKPIPE_HOME/state/`.

- `run.json`: written by `stockpipe run` (pid, dashboard URL, each stage's state, the
  exit verdict);
- `ingest.json`: written by the ingest stage about once a second (phase "backfill" with
  sessions done/total, then "live"; the simulated clock and speed);
- `warning.json`: the last warning any stage logged, with its stage and time.

`stockpipe status`, the live status view and the dashboard's health endpoint read them.
Writes are atomic replaces (readers see the old or the new document, never a mix), and
reading never creates anything: `status` on an empty home leaves it empty.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stockpipe.calendar import EXCHANGE_TZ

RUN = "run.json"
INGEST = "ingest.json"
WARNING = "warning.json"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def write_state(state_dir: Path, name: str, doc: dict[str, Any]) -> None:
    """Atomically replace `state_dir/name` with `doc` (plus `updated_at`)."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / f".tmp-{uuid.uuid4().hex}"
    try:
        tmp.write_text(json.dumps({**doc, "updated_at": now_iso()}, default=str))
        os.replace(tmp, state_dir / name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def read_state(state_dir: Path, name: str) -> dict[str, Any] | None:
    """The document, or None when absent or unreadable. Never creates a file or folder."""
    try:
        doc = json.loads((Path(state_dir) / name).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def clear_state(state_dir: Path, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (Path(state_dir) / name).unlink()


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


class WarningFile(logging.Handler):
    """A logging handler that keeps the last warning of a stage in `warning.json`.

    Stage processes log here instead of to the terminal, where lines would tear the
    live status view; the view shows the last one.
    """

    def __init__(self, state_dir: Path, stage: str) -> None:
        super().__init__(level=logging.WARNING)
        self.state_dir = Path(state_dir)
        self.stage = stage

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage().replace("\n", " ")
            write_state(self.state_dir, WARNING, {"stage": self.stage, "message": message})
        except Exception:  # noqa: BLE001 - a warning must never break the stage
            self.handleError(record)


def pipeline_state(settings: Any) -> dict[str, Any]:
    """For the dashboard: is a run holding the home, its phase and its clock.

    {"running": bool, "phase": "backfill 3/5 sessions" | "live" | ..., "backfill": bool,
    "clock": "simulated Mon 2026-12-07 10:41 ET, 60x", "clock_ts": ISO or None}.
    """
    from stockpipe.pipeline.homelock import holder

    running = holder(settings.home) is not None
    progress = read_state(settings.state_dir, INGEST) if running else None
    return {
        "running": running,
        "phase": phase_text(progress) if running else "stopped",
        "backfill": bool(progress and progress.get("phase") == "backfill"),
        "clock": clock_text(progress),
        "clock_ts": (progress or {}).get("clock"),
    }
