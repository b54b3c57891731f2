"""run_consumer over a Sink: add, flush, then commit; a failed flush commits nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from stockpipe.errors import LakeError, StockpipeError
from stockpipe.lake import manifest
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.local import LocalLake
from stockpipe.lake.raw import RawArchiver, iter_raw
from stockpipe.pipeline.stages import deliver, run_archive, run_consumer, run_process
from stockpipe.processing.engine import Processor
from stockpipe.records import Bar
from stockpipe.stream.base import StreamRecord
from stockpipe.stream.checkpoint import Checkpoint
from stockpipe.stream.consumer import Consumer
from stockpipe.stream.local import LocalStream
from stockpipe.stream.sink import BackPressure
from stockpipe.testing.sink import ListSink

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # a Monday, 09:30 in New York


def _setup(tmp_path: Path, payloads: list[bytes]) -> tuple[LocalStream, LocalLake]:
    stream = LocalStream(tmp_path / "s.db", shard_count=1)
    stream.put_records([("AAPL", p) for p in payloads])
    return stream, LocalLake(tmp_path / "lake")


def _bars(n: int) -> list[bytes]:
    return [
        Bar(
            "AAPL", "1min", T0.replace(minute=30 + i), 10.0, 11.0, 9.0, 10.0, 100 + i, "test"
        ).to_json()  # fmt: skip
        for i in range(n)
    ]


def _consumer(stream: LocalStream, lake: LocalLake, name: str) -> Consumer:
    return Consumer(stream, LakeCheckpointStore(lake), name)


class _CrashingArchiver(RawArchiver):
    """Writes the files, then fails before the flush returns (a crash after the write)."""

    def flush(self) -> None:
        self.write(self._pending)
        raise LakeError("the lake went away")


def test_a_failed_flush_commits_nothing_and_the_retry_lands_each_record_once(
    tmp_path: Path,
) -> None:
    stream, lake = _setup(tmp_path, [str(i).encode() for i in range(12)])
    with pytest.raises(LakeError, match="went away"):
        run_consumer(_consumer(stream, lake, "archive"), _CrashingArchiver(lake), follow=False)
    assert LakeCheckpointStore(lake).load("archive") == Checkpoint("archive")
    assert len(list(iter_raw(lake))) == 12  # written, but not committed

    archiver = RawArchiver(lake)
    result = run_consumer(_consumer(stream, lake, "archive"), archiver, follow=False, max_records=5)
    assert (result.records, result.batches, archiver.archived) == (12, 3, 12)
    assert sorted(int(r.data) for r in iter_raw(lake)) == list(range(12))
    shard = stream.shard_for("AAPL")
    assert LakeCheckpointStore(lake).load("archive").shards == {shard: stream.end_of_shard(shard)}


class _CrashingProcessor(Processor):
    """Writes the batch to the lake, then fails before the flush returns."""

    def process(self, records: Sequence[StreamRecord]):  # type: ignore[no-untyped-def]
        super().process(records)
        raise LakeError("the lake went away")


def test_a_failed_process_flush_is_processed_again_and_counted_once(tmp_path: Path) -> None:
    stream, lake = _setup(tmp_path, _bars(12))
    with pytest.raises(LakeError):
        run_consumer(_consumer(stream, lake, "process"), _CrashingProcessor(lake), follow=False)
    assert LakeCheckpointStore(lake).load("process") == Checkpoint("process")

    consumer = _consumer(stream, lake, "process")
    processor = Processor(lake)
    processor.resume(consumer.state)
    run_consumer(consumer, processor, follow=False, max_records=5)
    files = manifest.read_partition(lake, "processed-data/bars", "2026-03-02").files
    bars = pa.concat_tables([lake.read_parquet(f) for f in files]).sort_by("ts")
    assert bars.column("volume").to_pylist() == [100 + i for i in range(12)]
    expected = {"read": 12, "kept": 12, "duplicates": 0, "quarantined": 0, "reasons": {}}
    assert processor.totals.to_state() == expected
    assert LakeCheckpointStore(lake).load("process").state == expected


class _PushingBack:
    """A sink that refuses the first `refusals` flushes with BackPressure."""

    def __init__(self, refusals: int, retry_after: float = 0.01) -> None:
        self.refusals = refusals
        self.retry_after = retry_after
        self.added: list[list[bytes]] = []
        self.flushed: list[bytes] = []
        self._pending: list[bytes] = []
        self.flushes = 0

    def add(self, records: Sequence[StreamRecord]) -> None:
        self.added.append([r.data for r in records])
        self._pending.extend(r.data for r in records)

    def flush(self) -> dict[str, int]:
        self.flushes += 1
        if self.refusals:
            self.refusals -= 1
            raise BackPressure("the sink is full", retry_after=self.retry_after)
        self.flushed.extend(self._pending)
        self._pending = []
        return {"flushed": len(self.flushed)}


def test_back_pressure_waits_and_flushes_the_same_batch_again(tmp_path: Path) -> None:
    stream, lake = _setup(tmp_path, [b"a", b"b", b"c"])
    sink = _PushingBack(refusals=2)
    flushed: list[int] = []
    result = run_consumer(
        _consumer(stream, lake, "archive"), sink, follow=False, on_flush=flushed.append
    )
    # One batch, added once, flushed three times: two refusals, then it lands once.
    assert (result.records, result.batches) == (3, 1)
    assert sink.added == [[b"a", b"b", b"c"]]
    assert (sink.flushes, sink.flushed, flushed) == (3, [b"a", b"b", b"c"], [3])
    checkpoint = LakeCheckpointStore(lake).load("archive")
    shard = stream.shard_for("AAPL")
    assert checkpoint.shards == {shard: stream.end_of_shard(shard)}
    assert checkpoint.state == {"flushed": 3}


def test_stopping_during_back_pressure_commits_nothing(tmp_path: Path) -> None:
    stream, lake = _setup(tmp_path, [b"a", b"b"])
    sink = _PushingBack(refusals=1_000, retry_after=60.0)
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    started = time.monotonic()
    try:
        result = run_consumer(_consumer(stream, lake, "archive"), sink, follow=True, stop=stop)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 30  # the 60 s wait was cut short by stop
    assert (result.records, result.batches, sink.flushes, sink.flushed) == (0, 0, 1, [])
    assert LakeCheckpointStore(lake).load("archive") == Checkpoint("archive")
    # The next start reads the batch again.
    assert [r.data for r in _consumer(stream, lake, "archive").poll().records] == [b"a", b"b"]


def test_back_pressure_is_a_transient_stockpipe_error_with_a_delay() -> None:
    exc = BackPressure("slow down", retry_after=2.5)
    assert isinstance(exc, StockpipeError) and exc.transient
    assert (str(exc), exc.retry_after) == ("slow down", 2.5)
    assert BackPressure("now", retry_after=-1).retry_after == 0.0


class _FailingLake(LocalLake):
    failing = True

    def write_bytes(self, relpath: str, data: bytes) -> None:
        if self.failing:
            raise LakeError(f"cannot write {relpath}")
        super().write_bytes(relpath, data)


def test_the_archiver_keeps_what_a_failed_flush_did_not_land(tmp_path: Path) -> None:
    lake = _FailingLake(tmp_path / "lake")
    records = [StreamRecord("shardId-000000000000", str(i), "AAPL", b"x", T0) for i in (1, 2)]
    archiver = RawArchiver(lake)
    archiver.flush()  # nothing added: nothing written (a write would have failed)
    archiver.add(records)
    with pytest.raises(LakeError):
        archiver.flush()
    assert archiver.archived == 0
    lake.failing = False
    archiver.flush()
    assert [r.sequence_number for r in iter_raw(lake)] == ["1", "2"]
    assert archiver.archived == 2


def test_the_stages_report_what_their_sinks_made_durable(tmp_path: Path) -> None:
    bars = _bars(5)
    stream, lake = _setup(tmp_path, [*bars, bars[0], b"not json"])
    sums: dict[str, float] = {}

    def metric(name: str, value: float, unit: str) -> None:
        sums[name] = sums.get(name, 0) + value

    archived = run_archive(stream, lake, metric=metric, max_records=3)
    processed = run_process(stream, lake, metric=metric, max_records=3)
    assert (archived.records, processed.records) == (7, 7)
    assert sums["RecordsArchived"] == 7
    counts = (sums["RecordsProcessed"], sums["DuplicatesDropped"], sums["RecordsQuarantined"])
    assert counts == (5, 1, 1)
    assert processed.extra == processed.run
    assert (processed.run["read"], processed.run["kept"]) == (7, 5)
    # A second run reads nothing new: its own counts are zero, the totals are kept.
    again = run_process(stream, lake, metric=metric)
    assert (again.records, again.run["read"], again.extra["read"]) == (0, 0, 7)


class _RecordingStop(threading.Event):
    """A stop event whose waits are recorded and return at once (not stopped)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


class _StopAfterThree(_RecordingStop):
    def wait(self, timeout: float | None = None) -> bool:
        if len(self.waits) == 2:
            self.set()
        return super().wait(timeout)


def test_an_idle_follower_polls_every_50_ms(tmp_path: Path) -> None:
    # A live record waits at most one pause before the poll that starts its batch: the
    # freshness budget (p99 <= 0.25 s, poll to visible) leaves it no more than 0.05 s.
    stream = LocalStream(tmp_path / "s.db", shard_count=2)
    stop = _StopAfterThree()
    result = run_consumer(
        _consumer(stream, LocalLake(tmp_path / "lake"), "process"),
        ListSink(),
        follow=True,
        stop=stop,
    )
    assert stop.waits == [0.05, 0.05, 0.05]
    assert (result.records, result.batches) == (0, 0)


class _CountingLock:
    renewals = 0

    def renew(self) -> None:
        self.renewals += 1


def test_back_pressure_waits_what_the_sink_asked_and_renews_the_lease_each_time(
    tmp_path: Path,
) -> None:
    stream, lake = _setup(tmp_path, [b"a", b"b"])
    consumer = _consumer(stream, lake, "archive")
    sink = _PushingBack(refusals=3, retry_after=7.5)
    stop, lock = _RecordingStop(), _CountingLock()
    delivered = deliver(consumer, sink, consumer.poll(), stop, lock=lock)  # type: ignore[arg-type]
    assert delivered
    assert (sink.flushes, sink.flushed) == (4, [b"a", b"b"])
    assert stop.waits == [7.5, 7.5, 7.5]  # no jitter, no cap: exactly the sink's delay
    assert lock.renewals == 3
    assert LakeCheckpointStore(lake).load("archive").state == {"flushed": 2}


class _IdleCounting(_PushingBack):
    """Counts the stage's `idle` calls (and when they came); the third one stops the stage."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__(refusals=0)
        self.stop = stop
        self.idles: list[int] = []  # how many records were flushed at each idle call

    def idle(self) -> None:
        self.idles.append(len(self.flushed))
        if len(self.idles) == 3:
            self.stop.set()


def test_a_following_stage_calls_the_sinks_idle_only_when_a_poll_finds_nothing(
    tmp_path: Path,
) -> None:
    stream, lake = _setup(tmp_path, [b"a", b"b", b"c"])
    stop = threading.Event()
    sink = _IdleCounting(stop)
    result = run_consumer(_consumer(stream, lake, "archive"), sink, follow=True, stop=stop)
    # The batch first, then the empty polls: each idle call came after all 3 records.
    assert (result.records, result.batches) == (3, 1)
    assert sink.idles == [3, 3, 3]
    # A stage that is not following stops when caught up, without calling idle.
    more = _IdleCounting(threading.Event())
    run_consumer(_consumer(stream, lake, "other"), more, follow=False)
    assert more.flushed == [b"a", b"b", b"c"] and more.idles == []


def test_a_live_process_warms_up_without_writing_to_the_lake(tmp_path: Path) -> None:
    # A following `process` runs one made-up bar through an in-memory lake before its
    # first poll (so the first live batch does not load the calendar and the kernel);
    # none of it may reach the real lake.
    stream, lake = _setup(tmp_path, _bars(3))
    stop = threading.Event()

    def metric(name: str, value: float, unit: str) -> None:
        if name == "RecordsProcessed":
            stop.set()  # the batch is durable: stop following

    result = run_process(stream, lake, follow=True, stop=stop, metric=metric)
    assert result.records == 3
    stored = [p for p in lake.list("processed-data") if p.endswith(".parquet")]
    symbols = set()
    for path in stored:
        if "/bars/" in path or "/daily/" in path or "/latest/" in path:
            symbols |= set(lake.read_parquet(path).column("symbol").to_pylist())
    assert symbols == {"AAPL"}
