"""The Stream and Metrics contracts behave alike on every backend (issue 16 item 5), side by
side: `Stream.describe()`, one validation of GetShardIterator's arguments (the same
StreamError on both streams), `CloudWatchMetrics.read()`, and the health panel over Kinesis.
The Kinesis and CloudWatch halves run against the moto server; the local ones need nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from stockpipe.config import load_settings
from stockpipe.dashboard.health import HealthReader
from stockpipe.errors import StreamError
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.local import LocalLake
from stockpipe.metrics.cloudwatch import CloudWatchMetrics
from stockpipe.metrics.local import LocalMetrics
from stockpipe.stream.base import MAX_HASH_KEY
from stockpipe.stream.checkpoint import Checkpoint
from stockpipe.stream.kinesis import KinesisStream
from stockpipe.stream.local import LocalStream

BAD_REQUESTS = [
    ("OLDEST", None, None, "iterator type 'OLDEST' is unknown"),
    ("AT_SEQUENCE_NUMBER", None, None, "AT_SEQUENCE_NUMBER needs a decimal sequence number"),
    ("AFTER_SEQUENCE_NUMBER", "12a", None, "needs a decimal sequence number"),
    ("AT_TIMESTAMP", None, datetime(2026, 11, 23, 15, 0), "timezone-aware timestamp"),  # noqa: DTZ001
]
BAD_IDS = ["unknown-type", "no-sequence", "non-decimal-sequence", "naive-timestamp"]


@pytest.fixture
def local_stream(tmp_path):  # type: ignore[no-untyped-def]
    stream = LocalStream(tmp_path / "stream.db", shard_count=2, retention_hours=12)
    yield stream
    stream.close()


@pytest.fixture
def kinesis(kinesis_stream: str) -> KinesisStream:
    """A two-shard Kinesis stream in moto (tests/aws/conftest.py)."""
    return KinesisStream(boto3.client("kinesis", region_name="us-east-1"), kinesis_stream)


# -- Stream.describe() -------------------------------------------------------------------


def test_local_stream_describes_itself(local_stream: LocalStream) -> None:
    local_stream.put_records([("AAPL", b"1"), ("MSFT", b"2"), ("AAPL", b"3")])
    info = local_stream.describe()
    assert (info.name, info.kind, info.status, info.mode) == (
        "stockpipe",
        "local",
        "ACTIVE",
        "EMBEDDED",
    )
    assert info.retention_hours == 12.0
    assert [s.shard_id for s in info.shards] == ["shardId-000000000000", "shardId-000000000001"]
    # Two equal halves of the hash space, as CreateStream gives two shards.
    assert info.shards[1].starting_hash_key == (MAX_HASH_KEY + 1) // 2
    assert (info.open_shards, info.records) == (2, 3)


def test_kinesis_stream_describes_itself(kinesis: KinesisStream) -> None:
    info = kinesis.describe()
    assert (info.name, info.kind, info.status, info.mode) == (
        kinesis.name,
        "kinesis",
        "ACTIVE",
        "PROVISIONED",
    )
    assert info.retention_hours == 24.0  # the Kinesis default
    assert info.open_shards == 2 and len(info.shards) == 2
    assert info.shards[1].starting_hash_key == (MAX_HASH_KEY + 1) // 2
    assert info.records is None  # Kinesis cannot count what it holds


# -- one validation of GetShardIterator's arguments ---------------------------------------


@pytest.mark.parametrize(("kind", "seq", "ts", "message"), BAD_REQUESTS, ids=BAD_IDS)
def test_a_bad_iterator_request_is_a_stream_error_locally(
    local_stream: LocalStream, kind: str, seq: str | None, ts: datetime | None, message: str
) -> None:
    with pytest.raises(StreamError, match=message):
        local_stream.get_shard_iterator("shardId-000000000000", kind, seq, ts)


@pytest.mark.parametrize(("kind", "seq", "ts", "message"), BAD_REQUESTS, ids=BAD_IDS)
def test_a_bad_iterator_request_is_the_same_stream_error_on_kinesis(
    kinesis: KinesisStream, kind: str, seq: str | None, ts: datetime | None, message: str
) -> None:
    with pytest.raises(StreamError, match=message):
        kinesis.get_shard_iterator("shardId-000000000000", kind, seq, ts)


# -- Metrics.read() --------------------------------------------------------------------------


def test_cloudwatch_metrics_read_back_what_they_sent(moto_env: str) -> None:
    stream = f"read-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    clock = [now - timedelta(minutes=2)]
    client = boto3.client("cloudwatch", region_name="us-east-1")
    metrics = CloudWatchMetrics(client, stream, clock=lambda: clock[0])
    assert metrics.read() == {"stages": {}}
    metrics.put("RecordsProcessed", 10, stage="process")
    metrics.flush()
    clock[0] = now - timedelta(minutes=1)
    metrics.put("ProcessingLagMs", 900, "Milliseconds", stage="process")
    clock[0] = now
    metrics.put("ProcessingLagMs", 300, "Milliseconds", stage="process")
    metrics.put("RecordsProcessed", 5, stage="process")
    metrics.flush()
    stages = metrics.read()["stages"]
    assert list(stages) == ["process"]
    processed = stages["process"]["RecordsProcessed"]
    # Counters are summed per flush: two datapoints, 10 and 5.
    assert (processed["total"], processed["count"], processed["max"]) == (15.0, 2, 10.0)
    assert (processed["unit"], processed["stream"]) == ("Count", stream)
    lag = stages["process"]["ProcessingLagMs"]
    assert (lag["total"], lag["count"], lag["max"], lag["last"]) == (1200.0, 2, 900.0, 300.0)
    assert lag["unit"] == "Milliseconds" and lag["updated_at"].startswith(now.isoformat()[:16])


# -- the health panel reads the contracts, whichever the backend -------------------------------


def test_health_on_kinesis_shows_the_stream_and_no_pending_count(kinesis, tmp_path) -> None:
    settings = load_settings({"home": str(tmp_path / "home")}).settings
    lake = LocalLake(tmp_path / "lake")
    LakeCheckpointStore(lake).save(Checkpoint("process", state={"read": 5}))
    metrics = LocalMetrics(settings.state_dir)
    health = HealthReader(settings, lake, open_stream=lambda: kinesis, metrics=metrics).read()
    assert [(c["name"], c["pending"]) for c in health["consumers"]] == [("process", None)]
    assert health["stream"]["kind"] == "kinesis" and health["stream"]["open_shards"] == 2
    assert health["errors"] == []
