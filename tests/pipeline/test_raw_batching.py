"""Issue 19 item 17: live raw writes are batched by size or time, still exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from stockpipe.contract import RAW
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.local import LocalLake
from stockpipe.lake.raw import iter_raw
from stockpipe.pipeline.buffered import BufferedConsumer
from stockpipe.pipeline.stages import run_archive
from stockpipe.stream.consumer import Consumer
from stockpipe.stream.local import LocalStream

SYMBOLS = ["AAPL", "MSFT", "NVDA", "JPM"]


def _put_minute(stream: LocalStream, minute: int) -> None:
    stream.put_records(
        [(s, f'{{"symbol":"{s}","minute":{minute},"pad":"{"x" * 80}"}}'.encode()) for s in SYMBOLS]
    )


def _raw_files(lake: LocalLake) -> list[str]:
    return [p for p in lake.list(RAW.prefix) if p.endswith(".jsonl")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_polls_are_held_until_five_seconds_or_one_megabyte(tmp_path) -> None:
    stream = LocalStream(tmp_path / "s.db", shard_count=1)
    lake = LocalLake(tmp_path / "lake")
    clock = FakeClock()
    buffered = BufferedConsumer(
        Consumer(stream, LakeCheckpointStore(lake), "archive"), 1_000_000, 5.0, True, clock
    )
    for minute in range(4):  # a live feed: one small batch a second
        _put_minute(stream, minute)
        assert buffered.poll().records == []
        clock.now += 1.0
    assert buffered.buffered == 16
    clock.now += 1.0  # the first record is now 5 s old
    batch = buffered.poll()
    assert len(batch.records) == 16 and buffered.buffered == 0
    assert batch.positions == {"shardId-000000000000": batch.records[-1].sequence_number}
    # Size: a small limit is reached before any time passes.
    small = BufferedConsumer(
        Consumer(stream, LakeCheckpointStore(lake), "other"), 500, 5.0, True, clock
    )
    first = small.poll(max_records=4)
    assert first.records == []  # 4 records of about 120 bytes: under 500
    second = small.poll(max_records=4)
    assert len(second.records) == 8
    stream.close()


def test_live_archive_writes_few_files_and_every_record_once(tmp_path) -> None:
    stream = LocalStream(tmp_path / "s.db", shard_count=2)
    lake = LocalLake(tmp_path / "lake")
    stop = threading.Event()

    def archive() -> None:
        # A stage of its own, with its own connection, as in `stockpipe run`.
        own = LocalStream(tmp_path / "s.db", shard_count=2)
        try:
            run_archive(own, lake, follow=True, stop=stop, batch_seconds=2.0)
        finally:
            own.close()

    worker = threading.Thread(target=archive)
    worker.start()
    for minute in range(12):  # 12 polls' worth, about 5 a second
        _put_minute(stream, minute)
        time.sleep(0.2)
    time.sleep(0.5)
    stop.set()
    worker.join(60)
    files = _raw_files(lake)
    # Unbatched, every poll that found records wrote one file per shard (up to 24 here);
    # batched by 2 s over about 3 s, at most 2 flushes plus the stop's per shard.
    assert 1 <= len(files) <= 3 * 2
    records = list(iter_raw(lake))
    assert len(records) == 12 * len(SYMBOLS)
    assert max(Counter((r.shard_id, r.sequence_number) for r in records).values()) == 1
    # The stop flushed and committed everything: nothing left to re-read.
    assert Consumer(stream, LakeCheckpointStore(lake), "archive").poll().records == []
    stream.close()


def test_a_crash_between_write_and_checkpoint_still_leaves_each_record_once(
    tmp_path, monkeypatch
) -> None:
    stream = LocalStream(tmp_path / "s.db", shard_count=2)
    lake = LocalLake(tmp_path / "lake")
    for minute in range(30):
        _put_minute(stream, minute)
    calls = {"n": 0}
    real_commit = Consumer.commit

    def crash_on_second(self, batch, state=None):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed after the files were written")
        return real_commit(self, batch, state)

    monkeypatch.setattr(Consumer, "commit", crash_on_second)
    stop = threading.Event()
    with pytest.raises(RuntimeError):
        run_archive(stream, lake, True, stop, max_records=7, batch_bytes=2000)
    monkeypatch.setattr(Consumer, "commit", real_commit)
    # The re-read is split differently (other poll sizes, one batch per poll).
    run_archive(stream, lake, max_records=50)
    records = list(iter_raw(lake))
    seqs = Counter((r.shard_id, r.sequence_number) for r in records)
    assert len(seqs) == 30 * len(SYMBOLS) and max(seqs.values()) == 1
    stream.close()
