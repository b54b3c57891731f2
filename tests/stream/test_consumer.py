"""Named consumers: durable checkpoints, re-read after a crash, concurrent producers."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.local import LocalLake
from stockpipe.stream.consumer import Consumer
from stockpipe.stream.local import LocalStream


def _open(tmp: Path) -> tuple[LocalStream, LocalLake]:
    return LocalStream(tmp / "stream.db", shard_count=2), LocalLake(tmp / "lake")


def _drain(consumer: Consumer, commit: bool = True) -> list[bytes]:
    out: list[bytes] = []
    while True:
        batch = consumer.poll(7)
        if not batch.records:
            return out
        out.extend(r.data for r in batch.records)
        if commit:
            consumer.commit(batch)


def test_checkpoint_survives_restart_and_consumers_are_independent(tmp_path: Path) -> None:
    stream, lake = _open(tmp_path)
    stream.put_records([(f"S{i % 3}", str(i).encode()) for i in range(20)])
    first = _drain(Consumer(stream, LakeCheckpointStore(lake), "archive"))
    assert sorted(int(x) for x in first) == list(range(20))
    stream.put_records([("S0", b"20"), ("S1", b"21")])
    # A new instance (a restarted process) resumes after its checkpoint.
    assert sorted(_drain(Consumer(stream, LakeCheckpointStore(lake), "archive"))) == [b"20", b"21"]
    # Another consumer name has its own checkpoint and reads everything.
    assert len(_drain(Consumer(stream, LakeCheckpointStore(lake), "process"))) == 22
    assert (tmp_path / "lake/_checkpoints/archive/checkpoint.json").is_file()


def test_uncommitted_batch_is_read_again(tmp_path: Path) -> None:
    stream, lake = _open(tmp_path)
    stream.put_records([("AAPL", str(i).encode()) for i in range(10)])
    c = Consumer(stream, LakeCheckpointStore(lake), "process")
    batch = c.poll(4)
    c.commit(batch)
    lost = c.poll(4)  # read but never committed: the process "dies" here
    assert len(lost.records) == 4
    again = Consumer(stream, LakeCheckpointStore(lake), "process").poll(4)
    assert [r.sequence_number for r in again.records] == [r.sequence_number for r in lost.records]


def _consume_then_hang(home: str) -> None:
    stream, lake = _open(Path(home))
    c = Consumer(stream, LakeCheckpointStore(lake), "process")
    batch = c.poll(5)
    Path(home, "polled").write_text(",".join(r.sequence_number for r in batch.records))
    time.sleep(60)  # killed here, mid-batch, before the commit


def test_consumer_killed_mid_batch_rereads_rather_than_skips(tmp_path: Path) -> None:
    stream, lake = _open(tmp_path)
    stream.put_records([("AAPL", str(i).encode()) for i in range(12)])
    c = Consumer(stream, LakeCheckpointStore(lake), "process")
    c.commit(c.poll(3))
    proc = mp.get_context("spawn").Process(target=_consume_then_hang, args=(str(tmp_path),))
    proc.start()
    marker = tmp_path / "polled"
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    seen_by_victim = marker.read_text().split(",")
    after = Consumer(stream, LakeCheckpointStore(lake), "process").poll(5)
    assert [r.sequence_number for r in after.records] == seen_by_victim
    assert [int(r.data) for r in after.records] == [3, 4, 5, 6, 7]


def _produce(home: str, tag: str, n: int) -> None:
    stream = LocalStream(Path(home) / "stream.db", shard_count=2)
    for start in range(0, n, 25):
        stream.put_records(
            [(f"{tag}{i % 4}", f"{tag}-{i}".encode()) for i in range(start, start + 25)]
        )
    stream.close()


def test_two_producer_processes_lose_nothing(tmp_path: Path) -> None:
    LocalStream(tmp_path / "stream.db", shard_count=2).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_produce, args=(str(tmp_path), t, 500)) for t in ("A", "B")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    stream, lake = _open(tmp_path)
    got = _drain(Consumer(stream, LakeCheckpointStore(lake), "archive"))
    expected = {f"{t}-{i}".encode() for t in "AB" for i in range(500)}
    assert len(got) == 1000 and set(got) == expected
