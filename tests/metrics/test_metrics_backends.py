"""Metrics backends: the local JSON file (several processes) and CloudWatch batching."""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.stub import ANY, Stubber

from stockpipe.aws.session import client
from stockpipe.config import load_settings
from stockpipe.errors import ConfigError
from stockpipe.metrics import get_metrics, read_local_metrics
from stockpipe.metrics.cloudwatch import CloudWatchMetrics
from stockpipe.metrics.local import LocalMetrics
from stockpipe.metrics.mirror import MirroredMetrics

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def _flush_many(state_dir: str, stage: str, n: int) -> None:
    metrics = LocalMetrics(state_dir)
    for _ in range(n):
        metrics.put("RecordsIngested", 1, stage=stage)
        metrics.flush()


def test_local_metrics_accumulate_across_processes(tmp_path: Path):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_flush_many, args=(str(tmp_path), "ingest", 40)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    # Read-merge-write under a lock: no process overwrote another's counts.
    doc = LocalMetrics(tmp_path).path.read_text()
    assert '"total": 120.0' in doc


def test_local_metrics_keep_totals_last_and_max(home: Path):
    settings = load_settings().settings
    metrics = get_metrics(settings)
    assert isinstance(metrics, LocalMetrics)
    metrics.put("RecordsProcessed", 100, stage="process")
    metrics.put("ProcessingLagMs", 900, "Milliseconds", stage="process")
    metrics.put("ProcessingLagMs", 300, "Milliseconds", stage="process")
    metrics.flush()
    with get_metrics(settings) as again:  # another stage run, later
        again.put("RecordsProcessed", 20, stage="process")
        again.put("RecordsIngested", 120, stage="ingest")
    stages = read_local_metrics(settings)["stages"]
    processed = stages["process"]["RecordsProcessed"]
    assert (processed["total"], processed["count"], processed["last"]) == (120.0, 2, 20.0)
    lag = stages["process"]["ProcessingLagMs"]
    assert (lag["last"], lag["max"], lag["unit"]) == (300.0, 900.0, "Milliseconds")
    assert stages["ingest"]["RecordsIngested"]["stream"] == "local"
    assert (home / "state" / "metrics.json").is_file()


def test_nothing_recorded_reads_as_empty(home: Path):
    assert read_local_metrics(load_settings().settings) == {"stages": {}}


@pytest.mark.parametrize(
    "name, unit, stage",
    [("records ingested", "Count", "ingest"), ("RecordsIngested", "Parsecs", "ingest"),
     ("RecordsIngested", "Count", "../etc")],
    ids=["bad-name", "bad-unit", "bad-stage"],
)  # fmt: skip
def test_bad_metric_arguments_are_refused(tmp_path, name, unit, stage):
    with pytest.raises(ConfigError):
        LocalMetrics(tmp_path).put(name, 1, unit, stage=stage)


def test_cloudwatch_sums_counters_and_batches_calls(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}.items():
        monkeypatch.setenv(name, value)
    cw = client("cloudwatch", "us-east-1")
    metrics = CloudWatchMetrics(cw, "bars", clock=lambda: T0)
    dims = [{"Name": "stage", "Value": "process"}, {"Name": "stream", "Value": "bars"}]
    for _ in range(3):
        metrics.put("RecordsProcessed", 10, stage="process")
    for i in range(1200):
        metrics.put("BatchDurationMs", i, "Milliseconds", stage="process")
    summed = {"MetricName": "RecordsProcessed", "Dimensions": dims, "Timestamp": T0,
              "Value": 30.0, "Unit": "Count"}  # fmt: skip
    samples = [
        {"MetricName": "BatchDurationMs", "Dimensions": dims, "Timestamp": T0,
         "Value": float(i), "Unit": "Milliseconds"}
        for i in range(1200)
    ]  # fmt: skip
    with Stubber(cw) as stubber:
        # 1 summed counter + 1200 samples = 1201 datums: two calls (limit 1000 per call).
        stubber.add_response(
            "put_metric_data",
            {},
            {"Namespace": "StockPipe", "MetricData": [summed] + samples[:999]},
        )
        stubber.add_response(
            "put_metric_data", {}, {"Namespace": "StockPipe", "MetricData": samples[999:]}
        )
        metrics.flush()
        metrics.flush()  # nothing buffered: no call
        stubber.assert_no_pending_responses()


def test_cloudwatch_throttling_is_retried(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    cw = client("cloudwatch", "us-east-1")
    from stockpipe.aws.retry import Backoff

    slept: list[float] = []
    metrics = CloudWatchMetrics(cw, "bars", backoff=Backoff(sleep=slept.append))
    metrics.put("RecordsIngested", 5, stage="ingest")
    with Stubber(cw) as stubber:
        stubber.add_client_error("put_metric_data", service_error_code="Throttling")
        stubber.add_response("put_metric_data", {}, {"Namespace": "StockPipe", "MetricData": ANY})
        metrics.flush()
        stubber.assert_no_pending_responses()
    assert len(slept) == 1


def test_local_metrics_read_their_file(tmp_path) -> None:
    metrics = LocalMetrics(tmp_path, "local")
    assert metrics.read() == {"stages": {}}
    metrics.put("RecordsIngested", 40, stage="ingest")
    metrics.put("RecordsIngested", 2, stage="ingest")
    metrics.flush()
    got = metrics.read()["stages"]["ingest"]["RecordsIngested"]
    assert (got["total"], got["count"], got["last"], got["max"]) == (42.0, 2, 2.0, 40.0)
    # Another instance (another process) reads what this one flushed.
    assert LocalMetrics(tmp_path).read()["stages"]["ingest"]["RecordsIngested"]["total"] == 42.0


def test_mirrored_metrics_read_the_local_mirror(tmp_path) -> None:
    class Refusing(LocalMetrics):
        def read(self) -> dict:  # type: ignore[type-arg]
            raise AssertionError("the mirror must be read, not CloudWatch")

    mirrored = MirroredMetrics(Refusing(tmp_path / "cw"), LocalMetrics(tmp_path / "mirror"))
    mirrored.put("RecordsProcessed", 7, stage="process")
    mirrored.flush()
    assert mirrored.read()["stages"]["process"]["RecordsProcessed"]["total"] == 7.0
