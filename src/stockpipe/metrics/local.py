"""Metrics in a local JSON file, `$STOCKPIPE_HOME/state/metrics.json`.

Several processes (ingest, archive, process) flush into the same file, so each flush
is read-merge-write under an exclusive lock file, then an atomic replace: readers never
see a half-written file and no process overwrites another's counts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stockpipe.errors import StockpipeError
from stockpipe.metrics.base import MAX_BUFFER, Datum, Metrics

FILE_NAME = "metrics.json"


class LocalMetrics(Metrics):
    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        stream: str = "local",
        max_buffer: int = MAX_BUFFER,
    ) -> None:
        super().__init__(stream, max_buffer)
        self.path = Path(state_dir) / FILE_NAME

    def _send(self, pending: list[Datum]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(self.path.with_name(FILE_NAME + ".lock")):
                doc = _read(self.path)
                for d in pending:
                    _merge(doc, d)
                _write_atomic(self.path, doc)
        except OSError as exc:
            raise StockpipeError(f"cannot write metrics to {self.path}: {exc}") from exc

    def read(self) -> dict[str, Any]:
        """The metrics file, merged from every process that flushed into it."""
        return _read(self.path)


def _merge(doc: dict[str, Any], d: Datum) -> None:
    stage = doc.setdefault("stages", {}).setdefault(d.stage, {})
    m = stage.setdefault(
        d.name, {"unit": d.unit, "total": 0.0, "count": 0, "last": None, "max": None}
    )
    m["unit"] = d.unit
    m["total"] += d.value
    m["count"] += 1
    m["last"] = d.value
    m["max"] = d.value if m["max"] is None else max(m["max"], d.value)
    m["stream"] = d.stream
    m["updated_at"] = d.ts.isoformat(timespec="milliseconds")
    doc["updated_at"] = m["updated_at"]


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {"stages": {}}
    except (OSError, ValueError):
        # A corrupt file must not stop the pipeline; start counting afresh.
        return {"stages": {}}
    return doc if isinstance(doc, dict) else {"stages": {}}


def _write_atomic(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
    try:
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_metrics_file(state_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """{"stages": {stage: {name: {unit,total,count,last,max,stream,updated_at}}}, ...}."""
    return _read(Path(state_dir) / FILE_NAME)
