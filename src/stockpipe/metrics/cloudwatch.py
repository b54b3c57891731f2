"""Metrics sent to CloudWatch with PutMetricData (namespace StockPipe)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stockpipe.aws.retry import Backoff, with_backoff
from stockpipe.errors import StockpipeError
from stockpipe.metrics.base import (
    FLUSH_INTERVAL_S,
    MAX_BUFFER,
    METRICS,
    NAMESPACE,
    Datum,
    Metrics,
)

# PutMetricData accepts up to 1000 datums per call; we stay far below the 1 MB body limit.
MAX_DATUMS_PER_CALL = 1000


class CloudWatchMetrics(Metrics):
    # PutMetricData is billed per call ($0.01 per 1,000): at most one call per 10 s per
    # stage while busy, one per minute while idle (CloudWatch's standard resolution).
    checkpoint_interval = FLUSH_INTERVAL_S
    heartbeat_interval = 60.0

    def __init__(
        self,
        client: Any,
        stream: str,
        namespace: str = NAMESPACE,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_buffer: int = MAX_BUFFER,
    ) -> None:
        super().__init__(stream, max_buffer)
        self.client = client
        self.namespace = namespace
        self.backoff = backoff or Backoff()
        self._clock = clock

    def _now(self) -> datetime:
        return self._clock()

    def _datums(self, pending: list[Datum]) -> list[dict[str, Any]]:
        # Counters are summed per flush (Sum is what dashboards plot); samples stay apart
        # so Average/Maximum of a lag or a duration remain meaningful.
        summed: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        out: list[dict[str, Any]] = []
        for d in pending:
            datum = {
                "MetricName": d.name,
                "Dimensions": [
                    {"Name": "stage", "Value": d.stage},
                    {"Name": "stream", "Value": d.stream},
                ],
                "Timestamp": d.ts,
                "Value": d.value,
                "Unit": d.unit,
            }
            if d.unit == "Count" and METRICS.get(d.name, "Count") == "Count":
                key = (d.name, d.stage, d.stream, d.unit)
                if key in summed:
                    summed[key]["Value"] += d.value
                    summed[key]["Timestamp"] = d.ts
                    continue
                summed[key] = datum
            out.append(datum)
        return out

    def _send_chunk(self, chunk: list[dict[str, Any]]) -> None:
        self.client.put_metric_data(Namespace=self.namespace, MetricData=chunk)

    def _send(self, pending: list[Datum]) -> None:
        datums = self._datums(pending)
        sent = 0
        try:
            for i in range(0, len(datums), MAX_DATUMS_PER_CALL):
                chunk = datums[i : i + MAX_DATUMS_PER_CALL]
                with_backoff(partial(self._send_chunk, chunk), "PutMetricData", self.backoff)
                sent = i + len(chunk)
        except (ClientError, BotoCoreError) as exc:
            if sent:
                # Chunks already accepted must not be sent twice: requeue only the rest.
                pending[:] = [_datum(d) for d in datums[sent:]]
            raise StockpipeError(
                f"PutMetricData to namespace {self.namespace} failed: {exc}; check the "
                "cloudwatch:PutMetricData permission, or set STOCKPIPE_METRICS=local"
            ) from exc


def _datum(doc: dict[str, Any]) -> Datum:
    dims = {d["Name"]: d["Value"] for d in doc["Dimensions"]}
    return Datum(
        doc["MetricName"],
        doc["Value"],
        doc["Unit"],
        dims["stage"],
        dims["stream"],
        doc["Timestamp"],
    )
