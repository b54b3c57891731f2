"""Metrics sent to CloudWatch with PutMetricData (namespace StockPipe)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
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
# GetMetricData takes up to 500 queries per call.
MAX_QUERIES_PER_CALL = 500
# `read()` looks this far back: CloudWatch keeps 1-minute datapoints for 15 days, but a
# status reading is about the current run.
READ_WINDOW = timedelta(hours=3)
# One statistic per field of the metrics document; "last" is the newest minute's average.
_STATS = ("Sum", "SampleCount", "Maximum", "Average")


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

    def read(self) -> dict[str, Any]:
        """This stream's metrics over the last READ_WINDOW, read back from CloudWatch
        (ListMetrics, then GetMetricData; both are billed per call, so the status view and
        the health panel read the local mirror instead). `count` counts datapoints as
        CloudWatch stored them (counters are summed per flush)."""
        now = self._clock()
        series = self._series()
        queries = [
            {
                "Id": f"q{i}_{j}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": self.namespace,
                        "MetricName": name,
                        "Dimensions": [
                            {"Name": "stage", "Value": stage},
                            {"Name": "stream", "Value": self.default_stream},
                        ],
                    },
                    # One period over the whole window, but one minute for "last".
                    "Period": 60 if stat == "Average" else int(READ_WINDOW.total_seconds()),
                    "Stat": stat,
                },
            }
            for i, (name, stage) in enumerate(series)
            for j, stat in enumerate(_STATS)
        ]
        results: dict[str, dict[str, Any]] = {}
        for start in range(0, len(queries), MAX_QUERIES_PER_CALL):
            chunk = queries[start : start + MAX_QUERIES_PER_CALL]
            # EndTime is exclusive: a minute on, so that a datum sent just now counts.
            for result in self._call_get(chunk, now - READ_WINDOW, now + timedelta(minutes=1)):
                if result.get("Values"):
                    results[result["Id"]] = result
        doc: dict[str, Any] = {"stages": {}}
        for i, (name, stage) in enumerate(series):
            found = [results.get(f"q{i}_{j}") for j in range(len(_STATS))]
            if None in found:
                continue
            total, count, high, last = (r["Values"] for r in found if r is not None)
            # The window may straddle two periods; ScanBy TimestampDescending: newest first.
            newest = max(t for r in found if r is not None for t in r["Timestamps"])
            updated = _utc(newest).isoformat(timespec="milliseconds")
            entry: dict[str, Any] = {
                "unit": METRICS.get(name, "None"),
                "total": sum(total),
                "count": int(sum(count)),
                "last": last[0],
                "max": max(high),
                "stream": self.default_stream,
                "updated_at": updated,
            }
            doc["stages"].setdefault(stage, {})[name] = entry
            doc["updated_at"] = max(doc.get("updated_at", ""), updated)
        return doc

    def _series(self) -> list[tuple[str, str]]:
        """(metric, stage) of every metric this stream has in the namespace."""
        found: set[tuple[str, str]] = set()
        kwargs: dict[str, Any] = {
            "Namespace": self.namespace,
            "Dimensions": [{"Name": "stream", "Value": self.default_stream}],
        }
        while True:
            reply = self._read_call("ListMetrics", partial(self.client.list_metrics, **kwargs))
            for metric in reply.get("Metrics", []):
                dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                if "stage" in dims:
                    found.add((metric["MetricName"], dims["stage"]))
            if not reply.get("NextToken"):
                return sorted(found)
            kwargs["NextToken"] = reply["NextToken"]

    def _call_get(
        self, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampDescending",
        }
        while True:
            call = partial(self.client.get_metric_data, **kwargs)
            reply = self._read_call("GetMetricData", call)
            results.extend(reply.get("MetricDataResults", []))
            if not reply.get("NextToken"):
                return results
            kwargs["NextToken"] = reply["NextToken"]

    def _read_call(self, operation: str, fn: Callable[[], Any]) -> Any:
        try:
            return with_backoff(fn, operation, self.backoff)
        except (ClientError, BotoCoreError) as exc:
            raise StockpipeError(
                f"{operation} on namespace {self.namespace} failed: {exc}; check the "
                f"cloudwatch:{operation} permission"
            ) from exc


def _utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)


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
