"""The lake-backed CheckpointStore keeps the checkpoint files existing lakes already have."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from stockpipe.errors import CheckpointError
from stockpipe.lake.base import Lake
from stockpipe.lake.checkpoints import LakeCheckpointStore, checkpoint_path
from stockpipe.lake.local import LocalLake
from stockpipe.stream.checkpoint import Checkpoint, CheckpointStore

PATH = "_checkpoints/archive/checkpoint.json"


def _check_store(lake: Lake) -> None:
    store: CheckpointStore = LakeCheckpointStore(lake)
    assert checkpoint_path("archive") == PATH
    assert store.where("archive") == lake.uri(PATH)
    # Never committed: an empty checkpoint, and nothing is written by reading.
    assert store.load("archive") == Checkpoint("archive")
    assert not lake.exists(PATH)

    saved = Checkpoint(
        "archive",
        shards={"shardId-000000000001": "42"},
        finished=["shardId-000000000000"],
        state={"read": 7},
        stream={"kind": "local", "path": "/tmp/s.db"},
    )
    store.save(saved)
    assert saved.updated_at is not None
    assert json.loads(lake.read_bytes(PATH)) == {
        "consumer": "archive",
        "stream": {"kind": "local", "path": "/tmp/s.db"},
        "shards": {"shardId-000000000001": "42"},
        "finished": ["shardId-000000000000"],
        "state": {"read": 7},
        "updated_at": saved.updated_at,
    }
    assert store.load("archive") == saved

    # A checkpoint written before checkpoints named their stream still loads.
    legacy = {"consumer": "archive", "shards": {"shardId-000000000000": "9"}, "state": {}}
    lake.write_bytes(PATH, json.dumps(legacy).encode())
    assert store.load("archive") == Checkpoint("archive", shards={"shardId-000000000000": "9"})

    lake.write_bytes(PATH, b'{"shards": {"shardId-000000000000": "not a number"}}')
    with pytest.raises(CheckpointError) as info:
        store.load("archive")
    message = str(info.value)
    assert lake.uri(PATH) in message and "--reset-checkpoints" in message


def test_the_store_on_a_local_lake(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    _check_store(lake)
    assert (tmp_path / "lake" / PATH).is_file()


def test_the_store_on_an_s3_lake(
    moto_server: str, fake_aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockpipe.lake.s3 import S3Lake

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="checkpoint-store")
    lake = S3Lake("s3://checkpoint-store/lake", region="us-east-1")
    _check_store(lake)
    keys = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket="checkpoint-store")
    assert [o["Key"] for o in keys["Contents"]] == [f"lake/{PATH}"]
