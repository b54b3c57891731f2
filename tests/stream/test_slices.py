"""Hash-key slices of `process --workers N` (issue 21 item 5): every record goes to exactly
one worker, a symbol always to the same one, whatever shard carries it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from stockpipe.errors import ConfigError
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.local import LocalLake
from stockpipe.stream.base import MAX_HASH_KEY, ShardInfo, StreamRecord, hash_key
from stockpipe.stream.consumer import Consumer
from stockpipe.stream.local import LocalStream
from stockpipe.stream.slices import HashSlice, owner

# floor(2**128 / 3), worked out by hand: 2**128 = 3 * 113427455640312821154458202477256070485 + 1
THIRD = 113427455640312821154458202477256070485
HALF = 2**127


def test_slice_bounds_and_the_owner_of_the_keys_at_each_bound() -> None:
    assert (HashSlice(0, 3).start, HashSlice(0, 3).end) == (0, THIRD)
    assert (HashSlice(1, 3).start, HashSlice(1, 3).end) == (THIRD, 2 * THIRD)
    # 2 * 2**128 // 3 = 2 * THIRD (the remainder 2 is below 3).
    assert (HashSlice(2, 3).start, HashSlice(2, 3).end) == (2 * THIRD, MAX_HASH_KEY + 1)
    cases = {
        (0, 3): 0,
        (THIRD - 1, 3): 0,
        (THIRD, 3): 1,  # THIRD * 3 = 2**128 - 1: a key * N // 2**128 alone would say 0
        (2 * THIRD - 1, 3): 1,
        (2 * THIRD, 3): 2,
        (MAX_HASH_KEY, 3): 2,
        (HALF - 1, 2): 0,
        (HALF, 2): 1,
        (MAX_HASH_KEY, 1): 0,
    }
    for (key, count), expected in cases.items():
        assert owner(key, count) == expected, (key, count)
        owning = [k for k in range(count) if HashSlice(k, count).owns(key)]
        assert owning == [expected], (key, count)


def test_every_symbol_goes_to_exactly_one_worker_for_any_count() -> None:
    symbols = [f"S{i:03d}" for i in range(300)]
    for count in (1, 2, 3, 4, 7):
        seen: dict[str, int] = {}
        for k in range(count):
            for symbol in symbols:
                if HashSlice(k, count).owns(hash_key(symbol)):
                    assert symbol not in seen, (symbol, count)
                    seen[symbol] = k
        assert sorted(seen) == symbols
        assert all(seen[s] == owner(hash_key(s), count) for s in symbols)
        # 300 symbols spread over every worker (MD5 is uniform enough for that).
        assert set(seen.values()) == set(range(count))


def _record(shard: str, seq: int, key: str) -> StreamRecord:
    return StreamRecord(shard, str(seq), key, b"{}", datetime(2026, 1, 2, tzinfo=UTC))


def test_a_split_of_a_shard_moves_no_symbol_to_another_worker() -> None:
    # One shard over every key, split at a point that is no slice bound: the two children
    # each straddle... or not; the owner of a record depends on its key alone.
    parent = ShardInfo("shard-0", 0, MAX_HASH_KEY)
    at = 3 * MAX_HASH_KEY // 10
    left = ShardInfo("shard-1", 0, at - 1, parent_shard_id="shard-0")
    right = ShardInfo("shard-2", at, MAX_HASH_KEY, parent_shard_id="shard-0")
    symbols = [f"S{i:02d}" for i in range(60)]
    for k in range(2):
        worker = HashSlice(k, 2)
        before = {r.partition_key for r in worker.keep([_record("shard-0", 1, s) for s in symbols])}
        children = [
            _record(left.shard_id if hash_key(s) < at else right.shard_id, 2, s) for s in symbols
        ]
        after = {r.partition_key for r in worker.keep(children)}
        assert before == after == {s for s in symbols if owner(hash_key(s), 2) == k}
    # Worker 0 owns [0, 2**127): it reads the parent and both children (0.3 * 2**128 is
    # inside its slice, so the right child starts there); worker 1 only the right child.
    assert [s.shard_id for s in (parent, left, right) if HashSlice(0, 2).meets(s)] == [
        "shard-0",
        "shard-1",
        "shard-2",
    ]
    assert [s.shard_id for s in (parent, left, right) if HashSlice(1, 2).meets(s)] == [
        "shard-0",
        "shard-2",
    ]
    assert HashSlice(0, 2).covers(left) and not HashSlice(0, 2).covers(right)


def test_parse_and_bad_counts() -> None:
    assert HashSlice.parse("1/2") == HashSlice(1, 2)
    assert HashSlice(1, 2).writer == "w1"
    for spec in ("2/2", "1-2", "a/2", "0/0", "0/65"):
        with pytest.raises(ConfigError):
            HashSlice.parse(spec)


def _drain(consumer: Consumer) -> list[StreamRecord]:
    out: list[StreamRecord] = []
    while True:
        batch = consumer.poll(50)
        out.extend(batch.records)
        if not (batch.records or batch.positions or batch.finished):
            return out
        consumer.commit(batch)


def test_workers_read_their_own_shards_and_split_a_shared_one(tmp_path: Path) -> None:
    symbols = [f"S{i:02d}" for i in range(40)]
    for shards, count in ((4, 2), (3, 2)):
        stream = LocalStream(tmp_path / f"s{shards}.db", shard_count=shards)
        lake = LocalLake(tmp_path / f"lake{shards}")
        stream.put_records([(s, f"{s}-{n}".encode()) for n in range(3) for s in symbols])
        last: dict[str, str] = {}  # shard -> its last record, read by a plain consumer
        for r in _drain(Consumer(stream, LakeCheckpointStore(lake), "archive")):
            last[r.shard_id] = r.sequence_number
        got = {}
        for k in range(count):
            name = f"process-w{k}"
            consumer = Consumer(stream, LakeCheckpointStore(lake), name, hash_slice=HashSlice(k, 2))
            records = _drain(consumer)
            got[k] = records
            expected = {s for s in symbols if owner(hash_key(s), 2) == k}
            assert {r.partition_key for r in records} == expected
            assert len(records) == 3 * len(expected)
            # The checkpoint passed every record of the shards it read, skipped ones too.
            saved = LakeCheckpointStore(lake).load(name).shards
            read = {s.shard_id for s in stream.list_shards() if HashSlice(k, 2).meets(s)}
            assert set(saved) == read
            assert saved == {shard_id: last[shard_id] for shard_id in read}
        shard_of = {k: {r.shard_id for r in got[k]} for k in got}
        if shards == 4:  # 2 divides 4: each worker reads exactly its own two shards
            assert shard_of == {
                0: {"shardId-000000000000", "shardId-000000000001"},
                1: {"shardId-000000000002", "shardId-000000000003"},
            }
        else:  # the middle shard straddles 2**127: both read it, each keeps its records
            assert shard_of[0] & shard_of[1] == {"shardId-000000000001"}
        stream.close()


def test_a_merged_shard_waits_only_for_the_parents_in_the_slice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = LocalStream(tmp_path / "stream.db", shard_count=2)
    low = ShardInfo("low", 0, HALF - 1, ending_sequence_number="5")
    high = ShardInfo("high", HALF, MAX_HASH_KEY, ending_sequence_number="6")
    merged = ShardInfo("merged", 0, MAX_HASH_KEY, "low", "high")
    monkeypatch.setattr(stream, "list_shards", lambda: [low, high, merged])
    lake = LocalLake(tmp_path / "lake")
    readable = {}
    for k in range(2):
        consumer = Consumer(stream, LakeCheckpointStore(lake), f"w{k}", hash_slice=HashSlice(k, 2))
        consumer._refresh_shards(force=True)
        before = [s.shard_id for s in consumer._readable()]
        consumer._ended.add(["low", "high"][k])  # read its own parent to the end
        readable[k] = (before, [s.shard_id for s in consumer._readable()])
    # Worker 0 never reads `high` (outside its slice), so it does not wait for it.
    assert readable == {0: (["low"], ["merged"]), 1: (["high"], ["merged"])}
    stream.close()
