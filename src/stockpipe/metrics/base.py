"""The metrics contract: named pipeline metrics with stage and stream dimensions.

Stages call `put(...)` as they work and `flush()` at each checkpoint. Backends:
`LocalMetrics` (a JSON file that `stockpipe status` and the dashboard read) and
`CloudWatchMetrics` (PutMetricData, namespace StockPipe).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from stockpipe.errors import ConfigError

NAMESPACE = "StockPipe"

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
    """Buffered metrics. `put` is cheap; `flush` sends or persists the buffer."""

    def __init__(self, stream: str) -> None:
        self.default_stream = stream

    @abstractmethod
    def put(
        self,
        name: str,
        value: float,
        unit: str = "Count",
        *,
        stage: str,
        stream: str | None = None,
    ) -> None: ...

    @abstractmethod
    def flush(self) -> None: ...

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> Metrics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
