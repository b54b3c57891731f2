"""Metrics sent to CloudWatch with PutMetricData (namespace StockPipe)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stockpipe.aws.retry import Backoff, with_backoff
from stockpipe.errors import StockpipeError
from stockpipe.metrics.base import METRICS, NAMESPACE, Datum, Metrics, check_datum

# PutMetricData accepts up to 1000 datums per call; we stay far below the 1 MB body limit.
MAX_DATUMS_PER_CALL = 1000


class CloudWatchMetrics(Metrics):
    def __init__(
        self,
        client: Any,
        stream: str,
        namespace: str = NAMESPACE,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(stream)
        self.client = client
        self.namespace = namespace
        self.backoff = backoff or Backoff()
        self._clock = clock
        self._buffer: list[Datum] = []

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
        self._buffer.append(
            Datum(name, float(value), unit, stage, stream or self.default_stream, self._clock())
        )

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

    def _send(self, chunk: list[dict[str, Any]]) -> None:
        self.client.put_metric_data(Namespace=self.namespace, MetricData=chunk)

    def flush(self) -> None:
        if not self._buffer:
            return
        pending, self._buffer = self._buffer, []
        datums = self._datums(pending)
        try:
            for i in range(0, len(datums), MAX_DATUMS_PER_CALL):
                chunk = datums[i : i + MAX_DATUMS_PER_CALL]
                with_backoff(partial(self._send, chunk), "PutMetricData", self.backoff)
        except (ClientError, BotoCoreError) as exc:
            raise StockpipeError(
                f"PutMetricData to namespace {self.namespace} failed: {exc}; check the "
                "cloudwatch:PutMetricData permission, or set STOCKPIPE_METRICS=local"
            ) from exc
