"""What a running pipeline says about itself, written as small JSON files under
`$STOCKPIPE_HOME/state/` (`run.json`, `ingest.json`, `warning.json`: see stockpipe/home.py,
which reads them for every layer).

Writes are atomic replaces: readers see the old or the new document, never a mix.
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

# The readers live below the pipeline (the dashboard uses them); re-exported for the writers.
from stockpipe.home import (
    EXCHANGE_TZ,
    INGEST,
    RUN,
    WARNING,
    clock_text,
    phase_text,
    pipeline_state,
    read_state,
)

__all__ = [
    "EXCHANGE_TZ",
    "INGEST",
    "RUN",
    "WARNING",
    "WarningFile",
    "clear_state",
    "clock_text",
    "now_iso",
    "phase_text",
    "pipeline_state",
    "read_state",
    "write_state",
]


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


def clear_state(state_dir: Path, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (Path(state_dir) / name).unlink()


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
