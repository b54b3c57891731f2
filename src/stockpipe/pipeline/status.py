"""What `stockpipe status` (and the live view of `stockpipe run`) reports."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow.parquet as pq

from stockpipe.contract import BARS, DAILY, QUARANTINE, RAW
from stockpipe.lake.base import Lake
from stockpipe.pipeline.stages import ARCHIVE_CONSUMER, PROCESS_CONSUMER
from stockpipe.stream.base import Stream
from stockpipe.stream.consumer import Checkpoint, verify_checkpoint

COUNTERS = ("read", "kept", "duplicates", "quarantined")


@dataclass
class ConsumerStatus:
    name: str
    shards: dict[str, str | None]
    pending: int | None
    updated_at: str | None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class LakeStatus:
    rows: dict[str, int]
    files: dict[str, int]
    last_bar: datetime | None


def consumer_status(stream: Stream | None, lake: Lake, name: str) -> ConsumerStatus:
    cp = Checkpoint.load(lake, name)
    shards: dict[str, str | None] = {}
    pending: int | None = 0
    if stream is not None:
        # A checkpoint of another stream would show a lag of 0 while records are missed.
        verify_checkpoint(stream, lake, cp)
        for shard in stream.list_shards():
            committed = cp.shards.get(shard.shard_id)
            shards[shard.shard_id] = committed
            n = stream.pending(shard.shard_id, committed)
            pending = None if n is None or pending is None else pending + n
    else:
        shards = dict(cp.shards)
        pending = None
    return ConsumerStatus(name, shards, pending, cp.updated_at, cp.state)


def _parquet_rows(lake: Lake, prefix: str) -> tuple[int, int]:
    rows = files = 0
    for path in lake.list(prefix):
        if path.endswith(".parquet"):
            files += 1
            rows += pq.ParquetFile(io.BytesIO(lake.read_bytes(path))).metadata.num_rows
    return rows, files


def _last_bar(lake: Lake) -> datetime | None:
    paths = [p for p in lake.list(BARS.prefix) if p.endswith(".parquet")]
    if not paths:
        return None
    last_dt = max(p.split("/")[2] for p in paths)
    latest = None
    for path in paths:
        if path.split("/")[2] != last_dt:
            continue
        ts = lake.read_parquet(path).column("ts")
        if len(ts):
            value = max(ts.to_pylist())
            latest = value if latest is None or value > latest else latest
    return latest


def lake_status(lake: Lake) -> LakeStatus:
    rows: dict[str, int] = {}
    files: dict[str, int] = {}
    for table in (BARS, DAILY, QUARANTINE):
        rows[table.name], files[table.name] = _parquet_rows(lake, table.prefix)
    files[RAW.name] = sum(1 for p in lake.list(RAW.prefix) if p.endswith(".jsonl"))
    return LakeStatus(rows, files, _last_bar(lake))


def pipeline_status(stream: Stream | None, lake: Lake) -> dict[str, Any]:
    consumers = [consumer_status(stream, lake, n) for n in (ARCHIVE_CONSUMER, PROCESS_CONSUMER)]
    return {"consumers": consumers, "lake": lake_status(lake)}
