"""How much the process stage takes per batch from a backlog (issue 21)."""

from __future__ import annotations

from pathlib import Path

from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.local import LocalLake
from stockpipe.pipeline import stages
from stockpipe.stream.consumer import Consumer
from stockpipe.stream.local import LocalStream


def test_a_backlog_batch_takes_ten_thousand_records_from_each_of_four_shards(
    tmp_path: Path,
) -> None:
    stream = LocalStream(tmp_path / "s.db", shard_count=4)
    keys: dict[str, str] = {}  # one key per shard
    for i in range(100):
        keys.setdefault(stream.shard_for(f"K{i}"), f"K{i}")
    assert len(keys) == 4
    for _ in range(84):  # 84 calls x 125 = 10,500 records per shard
        stream.put_records([(key, b"x") for key in keys.values() for _ in range(125)])
    per_shard = {s.shard_id: stream.pending(s.shard_id, None) for s in stream.list_shards()}
    assert min(per_shard.values()) > 10_000  # the backlog is deeper than one call
    consumer = Consumer(stream, LakeCheckpointStore(LocalLake(tmp_path / "lake")), "process")
    batch = consumer.poll(stages.PROCESS_BATCH_RECORDS)
    assert len(batch) == 40_000
    assert sorted(batch.positions) == sorted(per_shard)
    shards = [r.shard_id for r in batch.records]
    assert {s: shards.count(s) for s in per_shard} == dict.fromkeys(per_shard, 10_000)
