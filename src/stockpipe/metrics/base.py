"""The metrics contract: named pipeline metrics with stage and stream dimensions.

Stages call `put(...)` as they work; `StageMetrics` (metrics/stage.py) flushes at each
checkpoint and at least every `FLUSH_INTERVAL_S` while idle, so a crashed stage loses
at most one interval. The buffer is bounded (`MAX_BUFFER` datums): while a backend is
unreachable the oldest datums are dropped and counted, memory never grows without end.
Backends: `LocalMetrics` (a JSON file that `stockpipe status` and the dashboard read)
and `CloudWatchMetrics` (PutMetricData, namespace StockPipe).
"""

from __future__ import annotations

import logging
import re
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stockpipe.errors import ConfigError

NAMESPACE = "StockPipe"
# "At least every 10 s while idle" (issue 18); also the most a crash can lose.
FLUSH_INTERVAL_S = 10.0
# About 15 minutes of a busy stage's datums: enough to ride out a CloudWatch outage.
MAX_BUFFER = 10_000

log = logging.getLogger("stockpipe.metrics")

# Metric name -> CloudWatch unit. Counters are summed; the others are samples.
METRICS: dict[str, str] = {
    "RecordsIngested": "Count",
    "RecordsProcessed": "Count",
    "RecordsQuarantined": "Count",
    "DuplicatesDropped": "Count",
    "PutRecordsRetries": "Count",
    "RecordsArchived": "Count",
    "ProcessingLagMs": "Milliseconds",
    "BatchDurationMs": "Milliseconds",
}
_NAME_RE = re.compile(r"^[A-Z][A-Za-z0-9]{0,99}$")
UNITS = frozenset({"Count", "Milliseconds", "Seconds", "Bytes", "None", "Percent"})


@dataclass(frozen=True, slots=True)
class Datum:
    name: str
    value: float
    unit: str
    stage: str
    stream: str
    ts: datetime  # UTC-aware


def check_datum(name: str, unit: str, stage: str) -> None:
    # The metrics are listed in METRICS; stages may add their own (RecordsArchived).
    if name not in METRICS and not _NAME_RE.match(name):
        raise ConfigError(
            f"metric name {name!r} is invalid: use CamelCase letters and digits, "
            f"e.g. one of {', '.join(sorted(METRICS))}"
        )
    if unit not in UNITS:
        raise ConfigError(
            f"unknown unit {unit!r} for {name}; use one of {', '.join(sorted(UNITS))}"
        )
    if not stage or not stage.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"stage {stage!r} must be a plain name such as ingest or process")


class Metrics(ABC):
    """Buffered metrics. `put` is cheap; `flush` sends or persists the buffer.

    Subclasses implement `_send(pending)`. On failure `flush` puts the datums back
    (still bounded) and raises, so the next flush retries them.
    """

    # Least seconds between two checkpoint flushes (`StageMetrics.checkpoint`): a local
    # file is cheap to rewrite at every checkpoint, a PutMetricData call is billed.
    checkpoint_interval: float = 0.0
    # Seconds between idle heartbeats (a ProcessingLagMs sample while nothing arrives).
    heartbeat_interval: float = FLUSH_INTERVAL_S

    def __init__(self, stream: str, max_buffer: int = MAX_BUFFER) -> None:
        if max_buffer < 1:
            raise ConfigError(f"metrics buffer size {max_buffer} must be at least 1")
        self.default_stream = stream
        self.max_buffer = max_buffer
        self.dropped = 0
        self._buffer: list[Datum] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def _now(self) -> datetime:
        return datetime.now(UTC)

    def put(
        self,
        name: str,
        value: float,
        unit: str = "Count",
        *,
        stage: str,
        stream: str | None = None,
    ) -> None:
        check_datum(name, unit, stage)
        datum = Datum(name, float(value), unit, stage, stream or self.default_stream, self._now())
        with self._lock:
            self._buffer.append(datum)
            self._trim()

    def _trim(self) -> None:
        # Caller holds self._lock. Oldest datums go first: the newest state matters most.
        overflow = len(self._buffer) - self.max_buffer
        if overflow > 0:
            del self._buffer[:overflow]
            if not self.dropped:
                log.warning(
                    "metrics buffer full (%d datums): dropping the oldest until a flush succeeds",
                    self.max_buffer,
                )
            self.dropped += overflow

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def flush(self) -> None:
        # One flush at a time: two racing flushes could reorder a local read-merge-write.
        with self._flush_lock:
            with self._lock:
                pending, self._buffer = self._buffer, []
            if not pending:
                return
            try:
                self._send(pending)
            except BaseException:
                with self._lock:
                    self._buffer = pending + self._buffer
                    self._trim()
                raise

    @abstractmethod
    def _send(self, pending: list[Datum]) -> None: ...

    @abstractmethod
    def read(self) -> dict[str, Any]:
        """What this backend recorded, the same shape on every backend:

        {"stages": {stage: {metric: {"unit", "total", "count", "last", "max", "stream",
        "updated_at"}}}, "updated_at": ...}; {"stages": {}} when nothing was recorded yet.
        """

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> Metrics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
