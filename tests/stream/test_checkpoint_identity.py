"""Issue 17, items 1, 5 and 7 (checkpoints): a checkpoint is tied to its stream, a
corrupted one names its file and the way out, and one consumer name runs once per lake."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path

import pytest

from stockpipe.errors import CheckpointError, ConsumerBusyError
from stockpipe.lake import manifest
from stockpipe.lake.checkpoints import LakeCheckpointStore, checkpoint_path
from stockpipe.lake.local import LocalLake
from stockpipe.lake.lock import ConsumerLock, consumer_lock
from stockpipe.pipeline import stages
from stockpipe.stream.base import StreamRecord
from stockpipe.stream.consumer import Consumer
from stockpipe.stream.local import LocalStream
from stockpipe.testing import ListSink


def _put(stream: LocalStream, n: int, start: int = 0) -> None:
    stream.put_records([(f"S{i % 3}", str(i).encode()) for i in range(start, start + n)])


def _drain(consumer: Consumer) -> list[bytes]:
    sink: ListSink[StreamRecord] = ListSink()
    stages.run_consumer(consumer, sink, follow=False, max_records=50)
    return [r.data for r in sink.items]


# -- item 1: a checkpoint belongs to one stream ---------------------------------------------


def test_a_recreated_stream_behind_an_old_checkpoint_is_refused_not_skipped(
    tmp_path: Path,
) -> None:
    lake = LocalLake(tmp_path / "lake")
    old = LocalStream(tmp_path / "stream.db", shard_count=2)
    _put(old, 100)
    assert len(_drain(Consumer(old, LakeCheckpointStore(lake), "archive"))) == 100
    old.close()
    (tmp_path / "stream.db").unlink()
    for extra in ("stream.db-wal", "stream.db-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    # The new stream numbers its records 1.. again, and has more of them than the old one:
    # before the fix the first 100 counted as already read.
    new = LocalStream(tmp_path / "stream.db", shard_count=2)
    _put(new, 150, start=1000)
    with pytest.raises(CheckpointError) as info:
        Consumer(new, LakeCheckpointStore(lake), "archive")
    message = str(info.value)
    assert lake.uri(checkpoint_path("archive")) in message
    assert "another stream" in message and "stockpipe archive --reset-checkpoints" in message
    # The way out: read the new stream from its start; every one of its records arrives.
    got = _drain(Consumer(new, LakeCheckpointStore(lake), "archive", reset=True))
    assert sorted(int(x) for x in got) == list(range(1000, 1150))
    # ... and the checkpoint is now the new stream's: a restart resumes without complaint.
    assert _drain(Consumer(new, LakeCheckpointStore(lake), "archive")) == []


def new_positions(home: Path) -> set[str]:
    stream = LocalStream(home / "stream" / "stream.db")
    out = set()
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
        out |= {r.sequence_number for r in stream.get_records(it).records}
    stream.close()
    return out


def test_a_new_home_on_the_same_lake_is_refused_by_process_and_status(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    lake = tmp_path / "shared-lake"
    monkeypatch.setenv("STOCKPIPE_LAKE", str(lake))
    monkeypatch.setenv("STOCKPIPE_HOME", str(tmp_path / "home-one"))
    args = ("ingest", "--days", "1", "--symbols", "AAPL", "--start", "2026-11-23")
    assert cli(*args).code == 0
    first = cli("process")
    assert first.code == 0, first.err
    monkeypatch.setenv("STOCKPIPE_HOME", str(tmp_path / "home-two"))  # a new stream.db
    assert cli(*args, "--seed", "5").code == 0
    for command in ("process", "status"):
        refused = cli(command)
        assert refused.code == 1, refused.out
        lines = [ln for ln in refused.err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: checkpoint ")
        assert "stockpipe process --reset-checkpoints" in lines[0]
        assert "Traceback" not in refused.err
    again = cli("process", "--reset-checkpoints")
    assert again.code == 0, again.err
    # 390 regular-session bars of the new stream read; their keys were stored already.
    out = again.out.replace("\n", " ")
    assert "this run: read 390 = kept 0 + duplicates 390 + quarantined 0" in out
    # The new stream's versions won (its positions come after the old stream's): every
    # stored bar now has the closes of seed 5.
    store = LocalLake(lake)
    files = [f for fs in manifest.live_files(store, "processed-data/bars").values() for f in fs]
    bars = [row for f in files for row in store.read_parquet(f).to_pylist()]
    assert len(bars) == 390
    assert {b["ingest_seq"] for b in bars} == new_positions(tmp_path / "home-two")
    assert cli("status").code == 0


def test_a_checkpoint_past_the_end_of_its_shard_is_refused(tmp_path: Path) -> None:
    stream = LocalStream(tmp_path / "stream.db", shard_count=2)
    lake = LocalLake(tmp_path / "lake")
    _put(stream, 10)
    last = int(stream.end_of_shard("shardId-000000000000"))  # the 10th number handed out
    first = min(
        int(r.sequence_number)
        for r in stream.get_records(
            stream.get_shard_iterator("shardId-000000000000", "TRIM_HORIZON")
        ).records
    )
    assert first <= last
    # A checkpoint from before checkpoints named their stream, at a position this stream
    # never handed out.
    legacy = {"consumer": "process", "shards": {"shardId-000000000000": f"{last + 1:020d}"}}
    lake.write_bytes(checkpoint_path("process"), json.dumps(legacy).encode())
    with pytest.raises(CheckpointError, match=f"past the end of that shard \\({last:020d}\\)"):
        Consumer(stream, LakeCheckpointStore(lake), "process")
    # A legacy checkpoint within the stream is accepted and adopts the stream.
    legacy["shards"] = {"shardId-000000000000": f"{first:020d}"}
    lake.write_bytes(checkpoint_path("process"), json.dumps(legacy).encode())
    consumer = Consumer(stream, LakeCheckpointStore(lake), "process")
    _drain(consumer)
    assert LakeCheckpointStore(lake).load("process").stream == stream.identity()


def test_a_checkpoint_naming_a_shard_the_stream_lacks_is_refused(tmp_path: Path) -> None:
    stream = LocalStream(tmp_path / "stream.db", shard_count=2)
    lake = LocalLake(tmp_path / "lake")
    doc = {"consumer": "archive", "shards": {"shardId-000000000007": "00000000000000000001"}}
    lake.write_bytes(checkpoint_path("archive"), json.dumps(doc).encode())
    with pytest.raises(CheckpointError, match="shardId-000000000007, which stream"):
        Consumer(stream, LakeCheckpointStore(lake), "archive")


# -- item 7: a corrupted checkpoint names its file and the way out ---------------------------


@pytest.mark.parametrize(
    "body",
    [b'{"consumer": "process", "shards": {"s', b"\xff\xfe", b"[1, 2]", b'{"shards": {"a": "x"}}'],
    ids=["truncated", "not-utf8", "a-list", "bad-position"],
)
def test_a_corrupted_checkpoint_is_one_clear_error(cli, home: Path, body: bytes) -> None:  # type: ignore[no-untyped-def]
    path = home / "lake" / "_checkpoints" / "process" / "checkpoint.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(body)
    for command in ("process", "status"):
        result = cli(command)
        assert result.code == 1
        lines = [ln for ln in result.err.splitlines() if ln.strip()]
        assert len(lines) == 1, result.err
        assert f"checkpoint {path} is corrupted" in lines[0]
        assert "stockpipe process --reset-checkpoints" in lines[0]
        assert "JSONDecodeError:" not in lines[0].split("(")[0]
    # The way out works, and keeps nothing of the broken file.
    assert cli("process", "--reset-checkpoints").code == 0
    assert json.loads(path.read_text())["shards"] == {}


# -- item 5: one consumer per name -------------------------------------------------------


def _hold_lock(root: str, ready: mp.synchronize.Event, done: mp.synchronize.Event) -> None:
    with consumer_lock(LocalLake(root), "archive"):
        ready.set()
        done.wait(30)


def test_a_second_archive_on_the_same_lake_is_refused_naming_the_holder(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path / "lake"), ready, done))
    holder.start()
    try:
        assert ready.wait(60)
        stream = LocalStream(tmp_path / "stream.db", shard_count=2)
        _put(stream, 5)
        with pytest.raises(ConsumerBusyError) as info:
            stages.run_archive(stream, LocalLake(tmp_path / "lake"))
        assert f"pid {holder.pid}" in str(info.value)
        assert "consumer 'archive' is already running" in str(info.value)
        assert not (tmp_path / "lake" / "raw-data").exists()  # nothing written
        # `process` is another name: it runs.
        assert stages.run_process(stream, LocalLake(tmp_path / "lake")).records == 5
    finally:
        done.set()
        holder.join(30)
    # The holder is gone: the lock went with it.
    assert stages.run_archive(stream, LocalLake(tmp_path / "lake")).records == 5


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path / "lake"), ready, done))
    holder.start()
    assert ready.wait(60)
    assert holder.pid is not None
    os.kill(holder.pid, 9)
    holder.join(30)
    with consumer_lock(LocalLake(tmp_path / "lake"), "archive"):
        pass


def test_two_locks_in_one_process_conflict_too(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    with (
        consumer_lock(lake, "process"),
        pytest.raises(ConsumerBusyError, match=f"pid {os.getpid()}"),
    ):
        ConsumerLock(lake, "process").acquire()
