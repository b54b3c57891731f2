"""Issue 17 on AWS: a Kinesis checkpoint is tied to the stream's ARN and creation time;
one consumer per name on an S3 lake (a lease). Against moto on 127.0.0.1."""

from __future__ import annotations

import os
import time
from pathlib import Path

import boto3
import pytest

from stockpipe.errors import CheckpointError, ConsumerBusyError
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.local import LocalLake
from stockpipe.lake.lock import ConsumerLock
from stockpipe.pipeline.stages import run_consumer
from stockpipe.stream.base import StreamRecord
from stockpipe.stream.consumer import Consumer
from stockpipe.stream.kinesis import KinesisStream
from stockpipe.testing import ListSink


def _drain(consumer: Consumer) -> list[bytes]:
    sink: ListSink[StreamRecord] = ListSink()
    run_consumer(consumer, sink, follow=False, max_records=50)
    return [r.data for r in sink.items]


def test_kinesis_stream_created_again_under_the_same_name_is_refused(
    moto_env: str, tmp_path: Path
) -> None:
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    name = "bars-recreated"

    def create() -> KinesisStream:
        kinesis.create_stream(StreamName=name, ShardCount=1)
        kinesis.get_waiter("stream_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
        )
        return KinesisStream(kinesis, name)

    lake = LocalLake(tmp_path / "lake")
    stream = create()
    stream.put_records([("AAPL", b"1"), ("AAPL", b"2")])
    assert _drain(Consumer(stream, LakeCheckpointStore(lake), "process")) == [b"1", b"2"]
    first = LakeCheckpointStore(lake).load("process").stream
    assert first is not None and first["arn"].endswith(f":stream/{name}")
    kinesis.delete_stream(StreamName=name)
    time.sleep(0.01)  # creation times differ (real AWS takes far longer to delete)
    stream = create()
    assert stream.identity()["arn"] == first["arn"]  # the ARN alone would not tell
    with pytest.raises(CheckpointError, match="another stream"):
        Consumer(stream, LakeCheckpointStore(lake), "process")
    kinesis.delete_stream(StreamName=name)


def test_a_lease_on_an_s3_lake_refuses_a_second_consumer(moto_env: str, tmp_path: Path) -> None:
    from stockpipe.lake.s3 import S3Lake

    bucket = "lease-bucket"
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=bucket)
    lake = S3Lake(f"s3://{bucket}/lake", region="us-east-1")
    first = ConsumerLock(lake, "archive").acquire()
    with pytest.raises(ConsumerBusyError, match=f"pid {os.getpid()}"):
        ConsumerLock(lake, "archive").acquire()
    first.release()
    ConsumerLock(lake, "archive").acquire().release()
