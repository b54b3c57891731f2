"""The whole pipeline on AWS backends, over real HTTP to a moto server on loopback:
`stockpipe ingest | archive | process` with STOCKPIPE_STREAM=kinesis and an s3:// lake,
compared row for row with the embedded backends on the same seed; CloudWatch metrics
must arrive in the server; `stockpipe query` must read the S3 lake through DuckDB."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from stockpipe.contract import BARS, DAILY, QUARANTINE
from stockpipe.lake.local import LocalLake
from stockpipe.lake.s3 import S3Lake

pytestmark = pytest.mark.integration

SYMBOLS = "AAPL,MSFT,JPM"
INGEST = (
    "ingest", "--source", "simulator", "--symbols", SYMBOLS, "--days", "2",
    "--start", "2026-11-23", "--seed", "11", "--fault-rate", "0.02",
)  # fmt: skip
# Lineage columns name stream positions, which legitimately differ between a Kinesis
# stream (2 shards, Kinesis sequence numbers) and the embedded one (4 shards, SQLite);
# so do arrival times. Everything else, including the processor's hidden state columns,
# must match exactly.
LINEAGE = {
    "ingest_shard", "ingest_seq", "_created_shard", "_created_seq",
    "shard_id", "sequence_number", "arrival_ts",
}  # fmt: skip


def _table(lake, table, sort: list[str]) -> pa.Table:  # noqa: ANN001
    fs, base = lake.arrow_filesystem()
    data = ds.dataset(
        f"{base}/{table.prefix}", filesystem=fs, format="parquet", partitioning="hive"
    ).to_table()
    keep = [c for c in data.column_names if c not in LINEAGE]
    return data.select(keep).sort_by([(c, "ascending") for c in sort])


def _run(cli, *args: str) -> str:  # noqa: ANN001
    result = cli(*args)
    assert result.code == 0, result.err
    return result.out


@pytest.fixture
def aws_run(cli, monkeypatch, tmp_path, moto_env, bucket, kinesis_stream):  # noqa: ANN001
    monkeypatch.setenv("STOCKPIPE_HOME", str(tmp_path / "aws-home"))
    monkeypatch.setenv("STOCKPIPE_STREAM", "kinesis")
    monkeypatch.setenv("KINESIS_STREAM_NAME", kinesis_stream)
    monkeypatch.setenv("STOCKPIPE_LAKE", f"s3://{bucket}/lake")
    monkeypatch.setenv("STOCKPIPE_METRICS", "cloudwatch")
    outs = {cmd[0]: _run(cli, *cmd) for cmd in (INGEST, ("archive",), ("process",))}
    return outs, S3Lake(f"s3://{bucket}/lake", region="us-east-1"), kinesis_stream


@pytest.fixture
def local_run(cli, monkeypatch, tmp_path):  # noqa: ANN001
    home = tmp_path / "local-home"
    for name in ("STOCKPIPE_STREAM", "KINESIS_STREAM_NAME", "STOCKPIPE_LAKE", "STOCKPIPE_METRICS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STOCKPIPE_HOME", str(home))
    outs = {cmd[0]: _run(cli, *cmd) for cmd in (INGEST, ("archive",), ("process",))}
    return outs, LocalLake(home / "lake")


def test_kinesis_and_s3_give_the_same_lake_as_the_embedded_backends(
    aws_run, local_run, cli, monkeypatch
):
    (aws_outs, s3_lake, stream), (local_outs, local_lake) = aws_run, local_run
    # Same records produced, same counters reported by ingest and process.
    assert aws_outs["ingest"] == local_outs["ingest"]
    assert "injected faults" in aws_outs["ingest"]
    assert aws_outs["process"] == local_outs["process"]

    bars_aws = _table(s3_lake, BARS, ["symbol", "interval", "ts"])
    bars_local = _table(local_lake, BARS, ["symbol", "interval", "ts"])
    assert bars_aws.num_rows == 3 * 2 * 390  # every bar once, duplicates dropped
    assert bars_aws.equals(bars_local)
    assert _table(s3_lake, DAILY, ["symbol", "dt"]).equals(
        _table(local_lake, DAILY, ["symbol", "dt"])
    )
    quarantine_sort = ["reason", "detail", "payload"]
    q_aws = _table(s3_lake, QUARANTINE, quarantine_sort)
    assert q_aws.num_rows > 0
    assert q_aws.equals(_table(local_lake, QUARANTINE, quarantine_sort))

    # The raw zone holds every stream record once, under the same layout.
    raw = [p for p in s3_lake.list("raw-data") if p.endswith(".jsonl")]
    lines = [json.loads(line) for p in raw for line in s3_lake.read_bytes(p).splitlines()]
    local_raw = [p for p in local_lake.list("raw-data") if p.endswith(".jsonl")]
    local_lines = sum(len(local_lake.read_bytes(p).splitlines()) for p in local_raw)
    assert len(lines) == local_lines
    assert len({(r["shard_id"], r["sequence_number"]) for r in lines}) == len(lines)
    assert s3_lake.exists("_checkpoints/process/checkpoint.json")
    assert s3_lake.exists("_checkpoints/archive/checkpoint.json")

    # Metrics reached CloudWatch, with the stage and stream dimensions.
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    names = {
        (m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])))
        for m in cloudwatch.list_metrics(Namespace="StockPipe")["Metrics"]
    }
    for metric, stage in [
        ("RecordsIngested", "ingest"),
        ("RecordsProcessed", "process"),
        ("RecordsQuarantined", "process"),
        ("DuplicatesDropped", "process"),
        ("BatchDurationMs", "process"),
        ("ProcessingLagMs", "process"),
    ]:
        assert (metric, (("stage", stage), ("stream", stream))) in names, metric
    ingested = int(aws_outs["ingest"].split()[1])
    stats = cloudwatch.get_metric_statistics(
        Namespace="StockPipe",
        MetricName="RecordsIngested",
        Dimensions=[{"Name": "stage", "Value": "ingest"}, {"Name": "stream", "Value": stream}],
        StartTime="2000-01-01T00:00:00Z",
        EndTime="2100-01-01T00:00:00Z",
        Period=60,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in stats["Datapoints"]) == ingested

    # A second `process` finds nothing new: the checkpoint in S3 held.
    assert "processed 0 records" in _run(cli, "process")

    # `stockpipe query` reads the S3 lake locally through DuckDB.
    out = _run(
        cli,
        "query",
        "SELECT symbol, count(*) AS n FROM bars GROUP BY symbol ORDER BY symbol",
        "--format",
        "csv",
    )
    rows = list(csv.reader(io.StringIO(out)))
    assert rows == [["symbol", "n"], ["AAPL", "780"], ["JPM", "780"], ["MSFT", "780"]]


def test_stream_commands_manage_a_kinesis_stream(cli, monkeypatch, moto_env):
    monkeypatch.setenv("STOCKPIPE_STREAM", "kinesis")
    monkeypatch.setenv("KINESIS_STREAM_NAME", "dev-bars")
    assert "created Kinesis stream dev-bars (3 shards)" in _run(
        cli, "stream", "create", "--shards", "3"
    )
    again = cli("stream", "create")
    assert again.code == 1 and "already exists" in again.err
    described = _run(cli, "stream", "describe")
    assert "ACTIVE" in described and described.count("shardId-") == 3
    assert "deleted Kinesis stream dev-bars" in _run(cli, "stream", "delete", "--yes")
    gone = cli("stream", "describe")
    assert gone.code == 1 and "stockpipe stream create" in gone.err


def test_stream_create_refuses_the_embedded_backend(cli, monkeypatch, tmp_path: Path):
    monkeypatch.delenv("STOCKPIPE_STREAM", raising=False)
    result = cli("stream", "delete", "--yes")
    assert result.code == 2 and "STOCKPIPE_STREAM=kinesis" in result.err
