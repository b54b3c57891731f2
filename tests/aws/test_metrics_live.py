"""Issue 18, point 2: a running `--follow` stage publishes its metrics WHILE it runs.

`stockpipe process --follow` runs as a real subprocess: against the moto server (real
HTTP on 127.0.0.1) the test reads CloudWatch while the process is still alive; locally
it reads state/metrics.json, `status --json` and the health panel. Before the fix,
metrics were flushed only when a stage exited, so nothing arrived until then.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.integration

INGEST = (
    "ingest", "--source", "simulator", "--symbols", "AAPL,MSFT", "--days", "1",
    "--start", "2026-11-23", "--seed", "5", "--fault-rate", "0.02",
)  # fmt: skip


def _sum(cloudwatch, metric: str, stream: str) -> float:  # noqa: ANN001
    stats = cloudwatch.get_metric_statistics(
        Namespace="StockPipe",
        MetricName=metric,
        Dimensions=[{"Name": "stage", "Value": "process"}, {"Name": "stream", "Value": stream}],
        StartTime="2000-01-01T00:00:00Z",
        EndTime="2100-01-01T00:00:00Z",
        Period=60,
        Statistics=["Sum", "SampleCount"],
    )
    return sum(p["Sum"] for p in stats["Datapoints"])


@pytest.fixture
def follow(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Start `stockpipe process --follow` in a subprocess; stop it with SIGINT at the end."""
    procs: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stockpipe", "process", "--follow"],
            env=dict(os.environ),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        with proc:  # closes the stdout/stderr pipes, or they leak as ResourceWarnings
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


def test_follow_stage_sends_cloudwatch_datapoints_while_it_runs(
    cli, monkeypatch, tmp_path, moto_env, bucket, kinesis_stream, follow
) -> None:
    monkeypatch.setenv("STOCKPIPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STOCKPIPE_STREAM", "kinesis")
    monkeypatch.setenv("KINESIS_STREAM_NAME", kinesis_stream)
    monkeypatch.setenv("STOCKPIPE_LAKE", f"s3://{bucket}/lake")
    monkeypatch.setenv("STOCKPIPE_METRICS", "cloudwatch")
    ingested = cli(*INGEST)
    assert ingested.code == 0, ingested.err
    read = int(ingested.out.split()[1])  # "ingested N records ..."
    assert read > 700

    proc = follow()
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    deadline = time.monotonic() + 60
    counted = 0.0
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        counted = sum(
            _sum(cloudwatch, m, kinesis_stream)
            for m in ("RecordsProcessed", "RecordsQuarantined", "DuplicatesDropped")
        )
        if counted >= read:
            break
        time.sleep(0.5)
    # Every record read is accounted for in CloudWatch, and the stage is still running.
    assert counted == read
    assert proc.poll() is None
    names = {
        m["MetricName"]
        for m in cloudwatch.list_metrics(Namespace="StockPipe")["Metrics"]
        if {"Name": "stream", "Value": kinesis_stream} in m["Dimensions"]
    }
    assert {"ProcessingLagMs", "BatchDurationMs", "RecordsQuarantined"} <= names

    # On AWS too, `status --json` and the health panel read the live values (the
    # CloudWatch backend mirrors them into state/metrics.json).
    import json

    from stockpipe.config import load_settings
    from stockpipe.dashboard.health import HealthReader
    from stockpipe.lake.s3 import S3Lake

    status = cli("status", "--json")
    assert status.code == 0, status.err
    live = json.loads(status.out)["metrics"]["process"]
    assert sum(live[m]["total"] for m in
               ("RecordsProcessed", "RecordsQuarantined", "DuplicatesDropped")) == read  # fmt: skip
    assert live["ProcessingLagMs"]["stream"] == kinesis_stream
    health = HealthReader(load_settings().settings, S3Lake(f"s3://{bucket}/lake")).read()
    assert {c["name"]: c["lag_ms"] for c in health["consumers"]}["process"] is not None
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0


def test_follow_stage_advances_local_metrics_and_status_while_it_runs(
    cli, monkeypatch, tmp_path, follow
) -> None:
    """Locally: state/metrics.json, `status --json` and the health panel follow the stage."""
    import json

    from stockpipe.config import load_settings
    from stockpipe.dashboard.health import HealthReader
    from stockpipe.lake.local import LocalLake
    from stockpipe.metrics import read_local_metrics

    home = tmp_path / "home"
    monkeypatch.setenv("STOCKPIPE_HOME", str(home))
    first = cli(*INGEST)
    assert first.code == 0, first.err
    settings = load_settings().settings

    def processed() -> tuple[float, str | None]:
        stage = read_local_metrics(settings)["stages"].get("process", {})
        totals = sum(stage.get(m, {}).get("total", 0.0) for m in
                     ("RecordsProcessed", "RecordsQuarantined", "DuplicatesDropped"))  # fmt: skip
        return totals, stage.get("ProcessingLagMs", {}).get("updated_at")

    def wait_for(total: float, proc: subprocess.Popen[str]) -> str | None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            got, updated = processed()
            if got >= total:
                return updated
            time.sleep(0.2)
        raise AssertionError(f"metrics.json never reached {total}: {processed()}")

    proc = follow()
    read1 = int(first.out.split()[1])
    first_update = wait_for(read1, proc)
    assert processed()[0] == read1

    # While the stage still runs, a second wave arrives and its counts follow.
    second = cli(
        "ingest", "--source", "simulator", "--symbols", "AAPL,MSFT", "--days", "1",
        "--start", "2026-11-24", "--seed", "6",
    )  # fmt: skip
    assert second.code == 0, second.err
    read2 = int(second.out.split()[1])
    second_update = wait_for(read1 + read2, proc)
    assert processed()[0] == read1 + read2
    assert first_update is not None and second_update is not None
    assert second_update > first_update

    # `status --json` and the dashboard's health panel see the live values.
    status = cli("status", "--json")
    assert status.code == 0, status.err
    doc = json.loads(status.out)
    live = doc["metrics"]["process"]
    assert (
        live["RecordsProcessed"]["total"]
        + live["RecordsQuarantined"]["total"]
        + live["DuplicatesDropped"]["total"]
        == read1 + read2
    )
    health = HealthReader(settings, LocalLake(home / "lake")).read()
    lag = {c["name"]: c["lag_ms"] for c in health["consumers"]}
    assert lag["process"] is not None
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
