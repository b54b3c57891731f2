"""The pipeline health panel: ingest rate, lag per consumer, quarantine and duplicates.

It reads consumer checkpoints from the lake (`_checkpoints/<consumer>/checkpoint.json`),
the stream through its contract (`describe()`, `pending()`), the metrics through theirs
(`read()`) and the run's phase from STOCKPIPE_HOME (stockpipe/home.py): it never asks which
backend it talks to. Each may be missing on a fresh install, and then the panel shows
"n/a" rather than an error. Rates are computed from the difference between two
successive reads, so the first refresh after start-up has none yet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from stockpipe.config import Settings
from stockpipe.home import pipeline_state
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.metrics import Metrics, get_metrics
from stockpipe.processing.workers import lake_workers, worker_consumers
from stockpipe.stream import Stream, StreamDescription, open_existing_stream
from stockpipe.stream.checkpoint import Checkpoint
from stockpipe.stream.consumer import CONSUMER_NAME_RE
from stockpipe.stream.slices import HashSlice

CHECKPOINTS_PREFIX = "_checkpoints"


def _age_seconds(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        ts = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if ts.tzinfo is None:
        return None
    return max(0.0, (datetime.now(UTC) - ts).total_seconds())


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class HealthReader:
    """Reads pipeline health; keeps the previous reading to turn counters into rates."""

    def __init__(
        self,
        settings: Settings,
        lake: Any,
        open_stream: Callable[[], Stream | None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.lake = lake
        # Opened for each reading and closed after it: the embedded stream's connection
        # belongs to the thread that opened it, and the server answers on several.
        self._open_stream = open_stream or (lambda: open_existing_stream(settings))
        self._metrics = metrics
        self._previous: tuple[float, int] | None = None
        self._lock = threading.Lock()

    def consumer_names(self) -> list[str]:
        names = set()
        for path in self.lake.list(CHECKPOINTS_PREFIX):
            parts = path.split("/")
            if (
                len(parts) == 3
                and parts[2] == "checkpoint.json"
                and CONSUMER_NAME_RE.match(parts[1])
            ):
                names.add(parts[1])
        return sorted(names)

    def _processors(self) -> set[str]:
        """The process checkpoints whose counters add up: `process`, or its workers'."""
        try:
            return set(worker_consumers("process", lake_workers(self.lake)))
        except Exception:  # noqa: BLE001 - a corrupt record shows as the single process
            return {"process"}

    def metrics(self) -> dict[str, Any]:
        # CloudWatch reads its local mirror: free, and current while the stages run.
        try:
            if self._metrics is None:
                self._metrics = get_metrics(self.settings)
            doc = self._metrics.read()
        except Exception:  # noqa: BLE001 - metrics are optional; the panel shows n/a
            return {}
        stages = doc.get("stages") if isinstance(doc, dict) else None
        return stages if isinstance(stages, dict) else {}

    def read(self) -> dict[str, Any]:
        errors: list[str] = []
        stream: Stream | None = None
        description: StreamDescription | None = None
        try:
            stream = self._open_stream()
            description = stream.describe() if stream is not None else None
        except Exception as exc:  # noqa: BLE001 - a busy or missing stream just means n/a
            errors.append(f"cannot describe the stream: {type(exc).__name__}: {exc}")
        try:
            report = self._read(stream, description, errors)
        finally:
            if stream is not None:
                stream.close()
        report["stream"] = _stream_summary(description)
        return report

    def _read(
        self, stream: Stream | None, description: StreamDescription | None, errors: list[str]
    ) -> dict[str, Any]:
        consumers: list[dict[str, Any]] = []
        totals = {"read": 0, "duplicates": 0, "quarantined": 0, "kept": 0}
        have = dict.fromkeys(totals, False)
        try:
            names = self.consumer_names()
        except Exception as exc:  # noqa: BLE001 - show the reason, keep the panel alive
            names = []
            errors.append(f"cannot list consumer checkpoints: {type(exc).__name__}: {exc}")
        processors = self._processors()
        for name in names:
            try:
                cp = LakeCheckpointStore(self.lake).load(name)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"cannot read checkpoint of {name}: {type(exc).__name__}")
                continue
            try:
                pending = _pending(stream, description, cp, _slice_of(name, processors))
            except Exception:  # noqa: BLE001 - a busy stream database just means n/a
                pending = None
            state = {k: _int_or_none(v) for k, v in cp.state.items() if _int_or_none(v) is not None}
            if name in processors:
                for key in totals:
                    if key in state:
                        totals[key] += state[key] or 0
                        have[key] = True
            consumers.append(
                {
                    "name": name,
                    "pending": pending,
                    "updated_at": cp.updated_at,
                    "seconds_since_commit": _age_seconds(cp.updated_at),
                    "state": state,
                }
            )
        stages = self.metrics()
        ingested = _metric_total(stages, "RecordsIngested")
        lag_ms = {
            stage: values["ProcessingLagMs"].get("last")
            for stage, values in stages.items()
            if isinstance(values, dict) and isinstance(values.get("ProcessingLagMs"), dict)
        }
        for consumer in consumers:
            consumer["lag_ms"] = lag_ms.get(consumer["name"])
        # Prefer the ingest metric; fall back to records read by the processor.
        counter = ingested if ingested is not None else (totals["read"] if have["read"] else None)
        rate = self._rate(counter)
        quarantined = totals["quarantined"] if have["quarantined"] else None
        duplicates = totals["duplicates"] if have["duplicates"] else None
        if quarantined is None:
            quarantined = _metric_total(stages, "RecordsQuarantined")
        if duplicates is None:
            duplicates = _metric_total(stages, "DuplicatesDropped")
        return {
            # Phase and simulated clock of a running `stockpipe run` (issue 19 items 2, 4).
            "pipeline": pipeline_state(self.settings),
            "ingest_rate": rate,
            "records_ingested": counter,
            "consumers": consumers,
            "quarantined": quarantined,
            "duplicates": duplicates,
            "errors": errors,
        }

    def _rate(self, counter: int | None) -> float | None:
        if counter is None:
            return None
        now = time.monotonic()
        with self._lock:
            previous, self._previous = self._previous, (now, counter)
        if previous is None or now - previous[0] <= 0 or counter < previous[1]:
            return None
        return (counter - previous[1]) / (now - previous[0])


def _slice_of(name: str, processors: set[str]) -> HashSlice | None:
    """The hash-key slice of a worker's checkpoint (`process-w1` of 2), None otherwise."""
    if len(processors) < 2 or name not in processors:
        return None
    return HashSlice(int(name.rsplit("-w", 1)[1]), len(processors))


def _pending(
    stream: Stream | None,
    description: StreamDescription | None,
    checkpoint: Checkpoint,
    piece: HashSlice | None = None,
) -> int | None:
    """Records a consumer has not committed yet, when the stream can count them (the
    embedded one can; Kinesis reports its lag as a metric instead)."""
    if stream is None or description is None:
        return None
    total = 0
    for shard in description.shards:
        if piece is not None and not piece.meets(shard):
            continue  # a worker never reads the shards outside its slice
        n = stream.pending(shard.shard_id, checkpoint.shards.get(shard.shard_id))
        if n is None:
            return None
        total += n
    return total


def _stream_summary(description: StreamDescription | None) -> dict[str, Any] | None:
    """The stream as the panel shows it, or None when it does not exist (yet)."""
    if description is None:
        return None
    return {
        "name": description.name,
        "kind": description.kind,
        "status": description.status,
        "open_shards": description.open_shards,
        "records": description.records,
    }


def _metric_total(stages: dict[str, Any], name: str) -> int | None:
    found = False
    total = 0.0
    for values in stages.values():
        metric = values.get(name) if isinstance(values, dict) else None
        if isinstance(metric, dict) and metric.get("total") is not None:
            found = True
            total += float(metric["total"])
    return int(total) if found else None
