"""AWS fixtures on the root conftest's moto server: endpoint, a bucket, a Kinesis stream."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest


@pytest.fixture(autouse=True)
def _no_real_aws(fake_aws_env: None) -> None:
    """Never reach real AWS from a test: fake keys, no profile, no stray endpoint."""


@pytest.fixture
def moto_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 (and so every stockpipe AWS backend) at the moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


@pytest.fixture
def bucket(moto_env: str) -> str:
    name = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def kinesis_stream(moto_env: str) -> Iterator[str]:
    """A fresh two-shard Kinesis stream in moto."""
    name = f"bars-{uuid.uuid4().hex[:10]}"
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
    )
    yield name
    kinesis.delete_stream(StreamName=name)
