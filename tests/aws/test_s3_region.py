"""Issue 18, item 6: the S3 lake's region in Spark tasks and wherever AWS_REGION is unset.

Order: the region passed in (the job's --region), AWS_REGION, AWS_DEFAULT_REGION, the
bucket's own region from S3 (pyarrow.fs.resolve_s3_region, which needs real S3 and is
replaced here by a recorder), then us-east-1. Before the fix only AWS_REGION counted.
"""

from __future__ import annotations

import pyarrow.fs as pafs
import pytest

from stockpipe.lake import open_lake
from stockpipe.lake import s3 as s3_module
from stockpipe.lake.s3 import S3Lake


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setattr(s3_module, "_BUCKET_REGIONS", {})


def test_aws_default_region_is_honoured(no_region, monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    lake = S3Lake("s3://lake-bucket/prefix")
    assert lake.region == "eu-central-1"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    assert lake.filesystem().region == "eu-central-1"  # what pyarrow will sign with


def test_the_jobs_region_wins_and_reaches_open_lake(no_region, monkeypatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    lake = open_lake("s3://lake-bucket", "eu-west-1")  # what tasks.write_partitions calls
    assert isinstance(lake, S3Lake) and lake.region == "eu-west-1"
    assert S3Lake("s3://lake-bucket").region == "us-west-2"


def test_without_any_region_the_bucket_is_asked_once(no_region, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    asked: list[str] = []

    def resolve(bucket: str) -> str:
        asked.append(bucket)
        return "ap-southeast-2"

    monkeypatch.setattr(pafs, "resolve_s3_region", resolve)
    assert S3Lake("s3://lake-bucket/a").region == "ap-southeast-2"
    assert S3Lake("s3://lake-bucket/b").region == "ap-southeast-2"
    assert asked == ["lake-bucket"]  # cached per process: one request per bucket


def test_an_unreachable_bucket_region_falls_back_to_us_east_1(no_region, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    def unreachable(bucket: str) -> str:
        raise OSError("When resolving region for bucket 'lake-bucket': network unreachable")

    monkeypatch.setattr(pafs, "resolve_s3_region", unreachable)
    assert S3Lake("s3://lake-bucket").region == "us-east-1"


def test_an_emulator_endpoint_is_never_asked_for_a_region(no_region, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")

    def forbidden(bucket: str) -> str:
        raise AssertionError("resolve_s3_region must not reach real S3 behind an endpoint")

    monkeypatch.setattr(pafs, "resolve_s3_region", forbidden)
    assert S3Lake("s3://lake-bucket").region == "us-east-1"
