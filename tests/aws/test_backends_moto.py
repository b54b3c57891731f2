"""S3Lake, KinesisStream and CloudWatch metrics against a moto server over real HTTP."""

from __future__ import annotations

import threading
from collections import Counter

import boto3
import pyarrow as pa
import pytest

from stockpipe.config import load_settings
from stockpipe.lake import open_lake
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.s3 import S3Lake
from stockpipe.metrics import get_metrics
from stockpipe.metrics.cloudwatch import CloudWatchMetrics
from stockpipe.stream.consumer import Consumer
from stockpipe.stream.kinesis import KinesisStream

pytestmark = pytest.mark.integration


def test_s3_lake_reads_writes_lists_and_deletes(bucket):
    lake = open_lake(f"s3://{bucket}/team/lake")
    assert isinstance(lake, S3Lake)
    lake.write_bytes("raw-data/dt=2026-11-23/hour=14/s0-1.jsonl", b'{"a":1}\n')
    lake.write_bytes("_checkpoints/archive/checkpoint.json", b"{}")
    # A key outside the prefix, and a temporary object, are never listed.
    boto3.client("s3").put_object(Bucket=bucket, Key="team/other/x.json", Body=b"x")
    boto3.client("s3").put_object(Bucket=bucket, Key="team/lake/raw-data/.tmp-123", Body=b"x")

    assert lake.list("") == [
        "_checkpoints/archive/checkpoint.json",
        "raw-data/dt=2026-11-23/hour=14/s0-1.jsonl",
    ]
    assert lake.list("raw-data") == ["raw-data/dt=2026-11-23/hour=14/s0-1.jsonl"]
    assert lake.list("quarantine") == []
    assert lake.exists("_checkpoints/archive/checkpoint.json")
    assert lake.uri("raw-data/x") == f"s3://{bucket}/team/lake/raw-data/x"
    # Replacing an object: a reader sees the whole new value.
    lake.write_bytes("_checkpoints/archive/checkpoint.json", b'{"v":2}')
    assert lake.read_bytes("_checkpoints/archive/checkpoint.json") == b'{"v":2}'
    lake.delete("_checkpoints/archive/checkpoint.json")
    lake.delete("_checkpoints/archive/checkpoint.json")  # idempotent
    assert not lake.exists("_checkpoints/archive/checkpoint.json")
    with pytest.raises(FileNotFoundError):
        lake.read_bytes("_checkpoints/archive/checkpoint.json")


def test_s3_parquet_round_trip_and_arrow_filesystem(bucket):
    lake = S3Lake(f"s3://{bucket}/lake", region="us-east-1")
    table = pa.table({"symbol": ["AAPL", "MSFT"], "close": [1.5, 2.5]})
    lake.write_parquet("processed-data/daily/dt=2026-11-23/part-0.parquet", table)
    assert lake.read_parquet("processed-data/daily/dt=2026-11-23/part-0.parquet").equals(table)
    fs, base = lake.arrow_filesystem()
    assert base == f"{bucket}/lake"
    info = fs.get_file_info(f"{base}/processed-data/daily/dt=2026-11-23/part-0.parquet")
    assert info.size > 0


def test_s3_lake_honours_the_s3_specific_endpoint(bucket, monkeypatch, moto_server):
    # AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL, for boto3 and for pyarrow alike.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    lake = S3Lake(f"s3://{bucket}/lake", region="us-east-1")
    lake.write_bytes("a.json", b"1")
    assert lake.list("") == ["a.json"] and lake.read_bytes("a.json") == b"1"


def test_kinesis_round_trip_with_checkpoints_in_s3(kinesis_stream, bucket):
    kinesis = boto3.client("kinesis")
    stream = KinesisStream(kinesis, kinesis_stream)
    lake = S3Lake(f"s3://{bucket}/lake", region="us-east-1")
    entries = [(f"SYM{i % 7}", f"rec-{i}".encode()) for i in range(1200)]
    results = stream.put_records(entries)  # three PutRecords calls (500, 500, 200)
    assert len(results) == 1200 and len({(r.shard_id, r.sequence_number) for r in results}) == 1200

    consumer = Consumer(stream, LakeCheckpointStore(lake), "process")
    first = consumer.poll(max_records=700)
    consumer.commit(first, {"read": len(first)})
    # A new consumer (a restarted process) resumes from the checkpoint in S3.
    resumed = Consumer(stream, LakeCheckpointStore(lake), "process")
    assert resumed.state == {"read": len(first)}
    rest = []
    while True:
        batch = resumed.poll()
        rest.extend(batch.records)
        resumed.commit(batch)
        if resumed.caught_up:
            break
    got = Counter(r.data for r in first.records + rest)
    assert got == Counter(d for _, d in entries)  # every record exactly once
    # Within a partition key, records arrive in the order they were put.
    for key in {k for k, _ in entries}:
        seen = [r.data for r in first.records + rest if r.partition_key == key]
        assert seen == [d for k, d in entries if k == key]


def test_concurrent_producers_lose_nothing(kinesis_stream):
    stream = KinesisStream(boto3.client("kinesis"), kinesis_stream)

    def produce(n: int) -> None:
        KinesisStream(boto3.client("kinesis"), kinesis_stream).put_records(
            [(f"P{n}", f"{n}-{i}".encode()) for i in range(100)]
        )

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = 0
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
        total += len(stream.get_records(it).records)
    assert total == 300


def test_cloudwatch_metrics_arrive_with_dimensions(moto_env, monkeypatch):
    monkeypatch.setenv("STOCKPIPE_METRICS", "cloudwatch")
    monkeypatch.setenv("STOCKPIPE_STREAM", "kinesis")
    monkeypatch.setenv("KINESIS_STREAM_NAME", "metrics-test")
    metrics = get_metrics(load_settings().settings)
    # CloudWatch, mirrored into state/metrics.json for `status` and the health panel.
    from stockpipe.metrics.mirror import MirroredMetrics

    assert isinstance(metrics, MirroredMetrics)
    assert isinstance(metrics.primary, CloudWatchMetrics)
    metrics.put("RecordsProcessed", 10, stage="process")
    metrics.put("RecordsProcessed", 5, stage="process")
    metrics.put("ProcessingLagMs", 250, "Milliseconds", stage="process")
    metrics.flush()
    cloudwatch = boto3.client("cloudwatch")
    dims = [{"Name": "stage", "Value": "process"}, {"Name": "stream", "Value": "metrics-test"}]
    stats = cloudwatch.get_metric_statistics(
        Namespace="StockPipe",
        MetricName="RecordsProcessed",
        Dimensions=dims,
        StartTime="2000-01-01T00:00:00Z",
        EndTime="2100-01-01T00:00:00Z",
        Period=60,
        Statistics=["Sum", "SampleCount"],
    )["Datapoints"]
    assert sum(p["Sum"] for p in stats) == 15
    assert sum(p["SampleCount"] for p in stats) == 1  # counters are summed per flush
    lag = cloudwatch.get_metric_statistics(
        Namespace="StockPipe",
        MetricName="ProcessingLagMs",
        Dimensions=dims,
        StartTime="2000-01-01T00:00:00Z",
        EndTime="2100-01-01T00:00:00Z",
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [p["Maximum"] for p in lag] == [250] and lag[0]["Unit"] == "Milliseconds"
