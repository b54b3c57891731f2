"""The three stage loops. Each is a plain function, so a thread, a process or a test
can run it. A stage stops cleanly when `stop` is set: the batch in hand is finished and
checkpointed, never left half-written (unless its sink is pushing back: then it is left
uncommitted and read again on the next start).

The two consumer stages are `run_consumer` over a `Sink` (stream/sink.py): the archive
stage's is `RawArchiver`, the process stage's the embedded `Processor`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stockpipe.errors import Backoff, retry
from stockpipe.lake.base import Lake
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.lock import ConsumerLock, consumer_lock
from stockpipe.lake.raw import RawArchiver
from stockpipe.pipeline.buffered import RAW_BATCH_BYTES, RAW_BATCH_SECONDS, BufferedConsumer
from stockpipe.sources.base import Retry, Source
from stockpipe.stream.base import Stream, batched_puts
from stockpipe.stream.consumer import Batch, Consumer
from stockpipe.stream.sink import BackPressure, Sink
from stockpipe.stream.slices import HashSlice

log = logging.getLogger("stockpipe.pipeline")

ARCHIVE_CONSUMER = "archive"
PROCESS_CONSUMER = "process"
# A polite sleep on an empty stream, not a busy loop; also how long a live record can
# wait before its batch starts (issue 21: freshness p99 <= 0.25 s). An empty poll of the
# embedded stream is one indexed query per shard; Kinesis paces itself (consumer.py).
EMPTY_POLL_SLEEP = 0.05
# The process stage's batch: up to 10,000 records from each of four shards per poll (one
# GetRecords call each), so a backlog pays a batch's fixed costs (data files, manifests,
# fsyncs, the latest table, the checkpoint) a quarter as often as at 10,000 (issue 21).
PROCESS_BATCH_RECORDS = 40_000

MetricFn = Callable[[str, float, str], None]


def _no_metric(name: str, value: float, unit: str) -> None:
    return None


def _nothing(count: int) -> None:
    return None


def _checkpointed(metric: MetricFn) -> None:
    # A StageMetrics flushes at each checkpoint; a plain callback has nothing to flush.
    hook = getattr(metric, "checkpoint", None)
    if hook is not None:
        hook()


def _idle(metric: MetricFn, lag_ms: float) -> None:
    hook = getattr(metric, "idle", None)
    if hook is not None:
        hook(lag_ms)


@dataclass
class StageResult:
    records: int = 0
    batches: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # process: the running totals
    run: dict[str, Any] = field(default_factory=dict)  # process: this run's own counts


def run_ingest(
    source: Source,
    stream: Stream,
    stop: threading.Event | None = None,
    metric: MetricFn = _no_metric,
) -> StageResult:
    """Source -> stream. Returns when the source is exhausted or `stop` is set."""
    stop = stop or threading.Event()
    result = StageResult()
    for batch in source.batches():
        if isinstance(batch, Retry):
            # A polling source waits here, where a stop cuts the wait short.
            if stop.wait(batch.seconds):
                source.stop()
                break
            continue
        for call in batched_puts(batch):
            stream.put_records(call)
            result.records += len(call)
            metric("RecordsIngested", len(call), "Count")
            _checkpointed(metric)
        result.batches += 1
        if stop.is_set():
            source.stop()
            break
    return result


def run_consumer(
    consumer: Consumer | BufferedConsumer,
    sink: Sink,
    *,
    follow: bool,
    stop: threading.Event | None = None,
    max_records: int = 10000,
    metric: MetricFn = _no_metric,
    lock: ConsumerLock | None = None,
    on_flush: Callable[[int], None] = _nothing,
) -> StageResult:
    """Poll, add to `sink`, flush, commit, until caught up (or forever with `follow`).

    The checkpoint moves only after the sink's flush returned, with the state it returned.
    A flush that raises stops the stage with nothing committed (the next run reads the
    batch again); `BackPressure` instead waits its `retry_after` and flushes the same
    records again. `on_flush(n)` reports each batch of n records made durable.
    """
    stop = stop or threading.Event()
    result = StageResult()
    while not stop.is_set():
        if lock is not None:
            lock.renew()  # a lease (S3 lakes) stays ours only while we run
        started = time.monotonic()
        batch = consumer.poll(max_records)
        # Positions alone: a worker skipped records of other slices (committed, not re-read).
        if batch.records or batch.finished or batch.positions:
            if not deliver(consumer, sink, batch, stop, on_flush, lock):
                break  # stopped while the sink pushed back: the batch is read again
            result.records += len(batch.records)
            result.batches += 1
            metric("BatchDurationMs", (time.monotonic() - started) * 1000, "Milliseconds")
            metric("ProcessingLagMs", consumer.millis_behind, "Milliseconds")
            _checkpointed(metric)
            continue
        if consumer.caught_up and not follow:
            break
        _idle(metric, consumer.millis_behind)
        housekeeping = getattr(sink, "idle", None)  # optional (stream/sink.py)
        if housekeeping is not None:
            housekeeping()
        stop.wait(EMPTY_POLL_SLEEP)
    return result


def deliver(
    consumer: Consumer | BufferedConsumer,
    sink: Sink,
    batch: Batch,
    stop: threading.Event,
    on_flush: Callable[[int], None] = _nothing,
    lock: ConsumerLock | None = None,
) -> bool:
    """Make `batch` durable in `sink`, then commit it; False if `stop` came first.

    On `BackPressure` nothing is committed: wait `retry_after` (cut short by `stop`),
    renew the `lock`'s lease and flush again; the sink still holds the records. A batch
    that only closes shards has nothing to flush and is committed at once.
    """
    state: Mapping[str, Any] | None = None
    if batch.records:
        sink.add(batch.records)
        try:
            state = _flush(sink, stop, lock)
        except _Stopped:
            return False
        on_flush(len(batch.records))
    consumer.commit(batch, dict(state) if state is not None else None)
    return True


class _Stopped(Exception):
    """`stop` came while a sink's BackPressure was waited out."""


class _SinkPace(Backoff):
    """The pauses a sink asks for: each BackPressure's `retry_after`, cut short by `stop`.

    It never gives up: the sink holds the records until it takes them or the stage stops.
    """

    def __init__(self, stop: threading.Event) -> None:
        super().__init__(max_attempts=sys.maxsize, sleep=self._wait)
        self.stop = stop
        self.asked = 0.0
        self.paused = False

    def _wait(self, seconds: float) -> None:
        self.stop.wait(seconds)

    def delay(self, attempt: int) -> float:
        return self.asked

    def pause(self, attempt: int) -> None:
        super().pause(attempt)
        self.paused = True


def _flush(
    sink: Sink, stop: threading.Event, lock: ConsumerLock | None
) -> Mapping[str, Any] | None:
    """`sink.flush()` on the one retry helper, retrying its BackPressure (and only that).

    After each wait the `lock`'s lease is renewed; a `stop` during a wait raises _Stopped
    before the sink is asked again.
    """
    pace = _SinkPace(stop)

    def attempt() -> Mapping[str, Any] | None:
        if pace.paused:
            if stop.is_set():
                raise _Stopped
            if lock is not None:
                lock.renew()
        return sink.flush()

    def waiting(exc: BaseException) -> None:
        assert isinstance(exc, BackPressure)
        log.warning("%s; retrying in %.1f s", exc, exc.retry_after)
        pace.asked = exc.retry_after

    return retry(
        attempt,
        "flushing the sink",
        pace,
        transient=lambda exc: isinstance(exc, BackPressure),
        on_retry=waiting,
    )


def run_archive(
    stream: Stream,
    lake: Lake,
    *,
    follow: bool = False,
    stop: threading.Event | None = None,
    metric: MetricFn = _no_metric,
    max_records: int = 10000,
    reset: bool = False,
    batch_bytes: int = RAW_BATCH_BYTES,
    batch_seconds: float = RAW_BATCH_SECONDS,
) -> StageResult:
    """Stream -> raw-data/ (JSON lines), checkpointed as consumer `archive`.

    `reset` (`--reset-checkpoints`) reads the stream from its start, e.g. after the stream
    was created again and the old checkpoint was refused.

    Records are written in batches of `batch_bytes` or `batch_seconds`, whichever comes
    first in follow mode (see pipeline/buffered.py: exactly-once holds), so live mode
    writes a few files per shard a minute instead of several a second.
    """
    with consumer_lock(lake, ARCHIVE_CONSUMER) as lock:
        consumer = BufferedConsumer(
            Consumer(stream, LakeCheckpointStore(lake), ARCHIVE_CONSUMER, reset=reset),
            batch_bytes,
            batch_seconds,
            follow=follow,
        )
        archiver = RawArchiver(lake)

        def archived(count: int) -> None:
            metric("RecordsArchived", count, "Count")

        result = run_consumer(
            consumer,
            archiver,
            follow=follow,
            stop=stop,
            max_records=max_records,
            metric=metric,
            lock=lock,
            on_flush=archived,
        )
        # Stopping: what is buffered is written and committed, not left to be re-read.
        tail = consumer.drain()
        if (tail.records or tail.finished) and deliver(
            consumer, archiver, tail, stop or threading.Event(), archived, lock
        ):
            result.records += len(tail.records)
            result.batches += 1
            _checkpointed(metric)
        return result


def run_process(
    stream: Stream,
    lake: Lake,
    *,
    follow: bool = False,
    stop: threading.Event | None = None,
    metric: MetricFn = _no_metric,
    max_records: int = PROCESS_BATCH_RECORDS,
    reset: bool = False,
    indicator_sessions: Sequence[str] | None = None,
    hash_slice: HashSlice | None = None,
) -> StageResult:
    """Stream -> processed-data/ and quarantine/, checkpointed as consumer `process`.

    The running totals live in the checkpoint's state, committed with the positions.
    `reset` reads the stream from its start (see `run_archive`).
    `indicator_sessions` (STOCKPIPE_INDICATOR_SESSIONS) must match the lake's record.
    `hash_slice` makes this worker k of `process --workers N` (pipeline/workers.py): it
    processes its slice's records as writer `w{k}`, checkpointed as `process-w{k}`; the
    caller has settled the lake's workers and indicator sessions.
    """
    from stockpipe.processing.engine import Processor, warm_up
    from stockpipe.processing.workers import consumer_name, settle_workers

    name = consumer_name(PROCESS_CONSUMER, hash_slice)
    with consumer_lock(lake, name) as lock:
        if hash_slice is None:
            settle_workers(lake, 1)
        consumer = Consumer(
            stream, LakeCheckpointStore(lake), name, reset=reset, hash_slice=hash_slice
        )
        writer = hash_slice.writer if hash_slice is not None else "w0"
        processor = Processor(lake, indicator_sessions, writer=writer)
        processor.resume(consumer.state)
        if follow:
            warm_up()  # the first live batch must not wait for the calendar and the kernel

        def processed(count: int) -> None:
            stats = processor.last
            metric("RecordsProcessed", stats.kept, "Count")
            metric("RecordsQuarantined", stats.quarantined, "Count")
            metric("DuplicatesDropped", stats.duplicates, "Count")

        result = run_consumer(
            consumer,
            processor,
            follow=follow,
            stop=stop,
            max_records=max_records,
            metric=metric,
            lock=lock,
            on_flush=processed,
        )
        result.extra = processor.totals.to_state()
        result.run = processor.run.to_state()
        return result
