"""StageMetrics' rhythm (flush at checkpoints, every 10 s while idle) and the bounded buffer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.stub import ANY, Stubber

from stockpipe.aws.session import client
from stockpipe.errors import StockpipeError
from stockpipe.metrics import read_metrics_file
from stockpipe.metrics.cloudwatch import CloudWatchMetrics
from stockpipe.metrics.local import LocalMetrics
from stockpipe.metrics.stage import StageMetrics

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stage(path: Path, metrics_file_stage: str = "process") -> dict:
    return read_metrics_file(path)["stages"].get(metrics_file_stage, {})


def test_local_metrics_flush_at_every_checkpoint(tmp_path: Path) -> None:
    clock = Clock()
    metric = StageMetrics(LocalMetrics(tmp_path), "process", clock=clock)
    metric("RecordsProcessed", 7)
    metric.checkpoint()
    assert _stage(tmp_path)["RecordsProcessed"]["total"] == 7.0
    metric("RecordsProcessed", 5)
    metric.checkpoint()  # no time passed: the local file is rewritten anyway
    assert _stage(tmp_path)["RecordsProcessed"]["total"] == 12.0


def test_idle_heartbeat_and_flush_every_ten_seconds(tmp_path: Path) -> None:
    clock = Clock()
    metric = StageMetrics(LocalMetrics(tmp_path), "archive", clock=clock)
    metric.idle(250.0)  # first idle call: a heartbeat, flushed at once
    lag = _stage(tmp_path, "archive")["ProcessingLagMs"]
    assert (lag["count"], lag["last"]) == (1, 250.0)
    clock.now += 9.9
    metric.idle(0.0)
    assert _stage(tmp_path, "archive")["ProcessingLagMs"]["count"] == 1
    clock.now += 0.1  # 10 s after the last heartbeat
    metric.idle(0.0)
    lag = _stage(tmp_path, "archive")["ProcessingLagMs"]
    assert (lag["count"], lag["last"]) == (2, 0.0)


def test_cloudwatch_checkpoints_flush_at_most_every_ten_seconds(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    cw = client("cloudwatch", "us-east-1")
    clock = Clock()
    metric = StageMetrics(CloudWatchMetrics(cw, "bars", clock=lambda: T0), "process", clock=clock)
    dims = [{"Name": "stage", "Value": "process"}, {"Name": "stream", "Value": "bars"}]

    def datum(value: float) -> dict:
        return {"MetricName": "RecordsProcessed", "Dimensions": dims, "Timestamp": T0,
                "Value": value, "Unit": "Count"}  # fmt: skip

    with Stubber(cw) as stubber:
        stubber.add_response("put_metric_data", {}, {"Namespace": "StockPipe",
                                                     "MetricData": [datum(3.0)]})  # fmt: skip
        stubber.add_response("put_metric_data", {}, {"Namespace": "StockPipe",
                                                     "MetricData": [datum(9.0)]})  # fmt: skip
        metric("RecordsProcessed", 3)
        metric.checkpoint()  # the first checkpoint flushes at once
        for _ in range(4):
            clock.now += 2.0
            metric("RecordsProcessed", 2)
            metric.checkpoint()  # within 10 s of the last call: buffered, summed
        clock.now += 2.0
        metric("RecordsProcessed", 1)
        metric.checkpoint()  # 10 s later: one call with 2+2+2+2+1
        stubber.assert_no_pending_responses()


def test_a_failing_backend_keeps_a_bounded_buffer_and_recovers(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state folder should be")
    metrics = LocalMetrics(blocker, max_buffer=5)
    clock = Clock()
    metric = StageMetrics(metrics, "process", clock=clock)
    for i in range(8):
        metric("BatchDurationMs", float(i), "Milliseconds")
        metric.checkpoint()  # fails, logged, the stage carries on
    assert metrics.pending == 5 and metrics.dropped == 3
    with pytest.raises(StockpipeError, match="cannot write metrics"):
        metric.close()  # at exit the failure is reported
    blocker.unlink()
    metric.checkpoint()
    duration = _stage(blocker)["BatchDurationMs"]
    # The three oldest samples were dropped; the five newest arrive, in order.
    assert (duration["count"], duration["total"], duration["last"]) == (5, 3.0 + 4 + 5 + 6 + 7, 7.0)
    assert metrics.pending == 0


def test_a_partly_sent_flush_requeues_only_the_unsent_chunks(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    cw = client("cloudwatch", "us-east-1")
    from stockpipe.aws.retry import Backoff

    metrics = CloudWatchMetrics(cw, "bars", clock=lambda: T0, backoff=Backoff(max_attempts=1))
    for i in range(1500):
        metrics.put("BatchDurationMs", i, "Milliseconds", stage="process")
    with Stubber(cw) as stubber:
        stubber.add_response("put_metric_data", {}, {"Namespace": "StockPipe", "MetricData": ANY})
        stubber.add_client_error("put_metric_data", service_error_code="AccessDenied")
        with pytest.raises(StockpipeError, match="PutMetricData"):
            metrics.flush()
    assert metrics.pending == 500  # the first 1000 datums were accepted; only 500 remain


def test_cloudwatch_is_mirrored_locally_without_double_counting_retries(tmp_path, monkeypatch):
    from stockpipe.metrics.mirror import MirroredMetrics

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    cw = client("cloudwatch", "us-east-1")
    metrics = MirroredMetrics(CloudWatchMetrics(cw, "bars", clock=lambda: T0),
                              LocalMetrics(tmp_path, "bars"))  # fmt: skip
    assert metrics.checkpoint_interval == 10.0  # CloudWatch's rhythm
    metrics.put("RecordsProcessed", 5, stage="process")
    dims = [{"Name": "stage", "Value": "process"}, {"Name": "stream", "Value": "bars"}]
    sent = {"Namespace": "StockPipe", "MetricData": [{"MetricName": "RecordsProcessed",
            "Dimensions": dims, "Timestamp": T0, "Value": 5.0, "Unit": "Count"}]}  # fmt: skip
    with Stubber(cw) as stubber:
        stubber.add_client_error("put_metric_data", service_error_code="AccessDenied")
        with pytest.raises(StockpipeError, match="PutMetricData"):
            metrics.flush()
        assert _stage(tmp_path)["RecordsProcessed"]["total"] == 5.0  # local got it anyway
        stubber.add_response("put_metric_data", {}, sent)
        metrics.flush()  # CloudWatch retried alone
        stubber.assert_no_pending_responses()
    assert _stage(tmp_path)["RecordsProcessed"]["total"] == 5.0
    assert metrics.pending == 0
