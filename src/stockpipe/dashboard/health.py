"""The pipeline health panel: ingest rate, lag per consumer, quarantine and duplicates.

It reads consumer checkpoints from the lake (`_checkpoints/<consumer>/checkpoint.json`)
and the local metrics file; both may be missing on a fresh install, and then the panel
shows "n/a" rather than an error. Rates are computed from the difference between two
successive reads, so the first refresh after start-up has none yet.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from stockpipe.config import Settings
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.stream.checkpoint import Checkpoint
from stockpipe.stream.consumer import CONSUMER_NAME_RE

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

    def __init__(self, settings: Settings, lake: Any) -> None:
        self.settings = settings
        self.lake = lake
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

    def _pending(self, checkpoint: Checkpoint) -> int | None:
        """Records not yet committed by a consumer, when the stream can count them."""
        # Only the embedded stream counts pending records; Kinesis reports lag as a metric.
        if self.settings.stream != "local" or not self.settings.stream_path.is_file():
            return None
        from stockpipe.stream.local import LocalStream

        stream = LocalStream(
            self.settings.stream_path,
            shard_count=self.settings.shards,
            retention_hours=self.settings.retention_hours,
        )
        try:
            total = 0
            for shard in stream.list_shards():
                n = stream.pending(shard.shard_id, checkpoint.shards.get(shard.shard_id))
                if n is None:
                    return None
                total += n
            return total
        finally:
            stream.close()

    def metrics(self) -> dict[str, Any]:
        # Both backends keep the local file (CloudWatch through its local mirror).
        try:
            from stockpipe.metrics import read_local_metrics

            doc = read_local_metrics(self.settings)
        except Exception:  # noqa: BLE001 - metrics are optional; the panel shows n/a
            return {}
        stages = doc.get("stages") if isinstance(doc, dict) else None
        return stages if isinstance(stages, dict) else {}

    def read(self) -> dict[str, Any]:
        consumers: list[dict[str, Any]] = []
        errors: list[str] = []
        totals = {"read": 0, "duplicates": 0, "quarantined": 0, "kept": 0}
        have = dict.fromkeys(totals, False)
        try:
            names = self.consumer_names()
        except Exception as exc:  # noqa: BLE001 - show the reason, keep the panel alive
            names = []
            errors.append(f"cannot list consumer checkpoints: {type(exc).__name__}: {exc}")
        for name in names:
            try:
                cp = LakeCheckpointStore(self.lake).load(name)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"cannot read checkpoint of {name}: {type(exc).__name__}")
                continue
            try:
                pending = self._pending(cp)
            except Exception:  # noqa: BLE001 - a busy stream database just means n/a
                pending = None
            state = {k: _int_or_none(v) for k, v in cp.state.items() if _int_or_none(v) is not None}
            if name == "process":
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
        from stockpipe.pipeline.runstate import pipeline_state

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


def _metric_total(stages: dict[str, Any], name: str) -> int | None:
    found = False
    total = 0.0
    for values in stages.values():
        metric = values.get(name) if isinstance(values, dict) else None
        if isinstance(metric, dict) and metric.get("total") is not None:
            found = True
            total += float(metric["total"])
    return int(total) if found else None
