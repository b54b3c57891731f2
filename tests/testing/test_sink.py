"""ListSink on its own, then the bytewax-style tiny flow: TestingSource -> stream -> ListSink."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockpipe.errors import LakeError
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.local import LocalLake
from stockpipe.pipeline.stages import run_consumer, run_ingest
from stockpipe.stream.base import StreamRecord
from stockpipe.stream.consumer import Consumer
from stockpipe.stream.local import LocalStream
from stockpipe.testing import ListSink, TestingSource


def test_flush_makes_what_was_added_durable() -> None:
    sink: ListSink[int] = ListSink()
    sink.add([1, 2])
    sink.add([3])
    assert (sink.items, sink.added, sink.flushes) == ([], [1, 2, 3], 0)
    assert sink.flush() is None
    assert (sink.items, sink.added, sink.flushes) == ([1, 2, 3], [], 1)
    sink.add([4])
    sink.flush()
    assert (sink.items, sink.flushes) == ([1, 2, 3, 4], 2)


def test_a_failing_flush_keeps_nothing() -> None:
    sink: ListSink[int] = ListSink(fail_flush=LakeError("disk full"))
    sink.add([1])
    with pytest.raises(LakeError, match="disk full"):
        sink.flush()
    assert (sink.items, sink.added, sink.flushes) == ([], [], 0)


def _flow(tmp_path: Path, sink: ListSink[StreamRecord]) -> tuple[LocalStream, LocalLake]:
    stream = LocalStream(tmp_path / "s.db", shard_count=1)
    lake = LocalLake(tmp_path / "lake")
    payloads = [("AAPL", f"{i}".encode()) for i in range(7)]
    assert run_ingest(TestingSource(payloads, batch_size=3), stream).records == 7
    run_consumer(
        Consumer(stream, LakeCheckpointStore(lake), "t"), sink, follow=False, max_records=4
    )
    return stream, lake


def test_a_tiny_flow_delivers_every_record_once_in_order(tmp_path: Path) -> None:
    sink: ListSink[StreamRecord] = ListSink()
    _flow(tmp_path, sink)
    assert [r.data for r in sink.items] == [b"0", b"1", b"2", b"3", b"4", b"5", b"6"]
    assert sink.flushes == 2  # batches of at most 4 records


def test_a_failed_flush_leaves_the_checkpoint_where_it_was(tmp_path: Path) -> None:
    with pytest.raises(LakeError):
        _flow(tmp_path, ListSink(fail_flush=LakeError("disk full")))
    # The restarted consumer reads everything again: nothing was counted as delivered.
    stream = LocalStream(tmp_path / "s.db")
    again: ListSink[StreamRecord] = ListSink()
    run_consumer(
        Consumer(stream, LakeCheckpointStore(LocalLake(tmp_path / "lake")), "t"),
        again,
        follow=False,
    )
    assert [r.data for r in again.items] == [str(i).encode() for i in range(7)]
