"""The three stage loops. Each is a plain function, so a thread, a process or a test
can run it. A stage stops cleanly when `stop` is set: the batch in hand is finished and
checkpointed, never left half-written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stockpipe.lake.archive import RawArchiver
from stockpipe.lake.base import Lake
from stockpipe.pipeline.buffered import RAW_BATCH_BYTES, RAW_BATCH_SECONDS, BufferedConsumer
from stockpipe.sources.base import Retry, Source
from stockpipe.stream.base import Stream, batched_puts
from stockpipe.stream.consumer import Consumer
from stockpipe.stream.lock import ConsumerLock, consumer_lock

log = logging.getLogger("stockpipe.pipeline")

ARCHIVE_CONSUMER = "archive"
PROCESS_CONSUMER = "process"
EMPTY_POLL_SLEEP = 0.2  # a polite sleep on an empty stream, not a busy loop

MetricFn = Callable[[str, float, str], None]


def _no_metric(name: str, value: float, unit: str) -> None:
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
    handle: Callable[[list[Any]], dict[str, Any] | None],
    follow: bool,
    stop: threading.Event | None = None,
    max_records: int = 10000,
    metric: MetricFn = _no_metric,
    lock: ConsumerLock | None = None,
) -> StageResult:
    """Poll, handle, commit, until caught up (or forever with `follow`)."""
    stop = stop or threading.Event()
    result = StageResult()
    while not stop.is_set():
        if lock is not None:
            lock.renew()  # a lease (S3 lakes) stays ours only while we run
        started = time.monotonic()
        batch = consumer.poll(max_records)
        if batch.records or batch.finished:
            # The handler makes its output durable; only then does the checkpoint move.
            state = handle(batch.records) if batch.records else None
            consumer.commit(batch, state)
            result.records += len(batch.records)
            result.batches += 1
            metric("BatchDurationMs", (time.monotonic() - started) * 1000, "Milliseconds")
            metric("ProcessingLagMs", consumer.millis_behind, "Milliseconds")
            _checkpointed(metric)
            continue
        if consumer.caught_up and not follow:
            break
        _idle(metric, consumer.millis_behind)
        stop.wait(EMPTY_POLL_SLEEP)
    return result


def run_archive(
    stream: Stream,
    lake: Lake,
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
            Consumer(stream, lake, ARCHIVE_CONSUMER, reset=reset),
            batch_bytes,
            batch_seconds,
            follow,
        )
        archiver = RawArchiver(lake)

        def handle(records: list[Any]) -> None:
            archiver.write(records)
            metric("RecordsArchived", len(records), "Count")
            return None

        result = run_consumer(consumer, handle, follow, stop, max_records, metric, lock)
        # Stopping: what is buffered is written and committed, not left to be re-read.
        tail = consumer.drain()
        if tail.records or tail.finished:
            if tail.records:
                handle(tail.records)
            consumer.commit(tail)
            result.records += len(tail.records)
            result.batches += 1
            _checkpointed(metric)
        return result


def run_process(
    stream: Stream,
    lake: Lake,
    follow: bool = False,
    stop: threading.Event | None = None,
    metric: MetricFn = _no_metric,
    max_records: int = 10000,
    reset: bool = False,
    indicator_sessions: Sequence[str] | None = None,
) -> StageResult:
    """Stream -> processed-data/ and quarantine/, checkpointed as consumer `process`.

    The running totals live in the checkpoint's state, committed with the positions.
    `reset` reads the stream from its start (see `run_archive`).
    `indicator_sessions` (STOCKPIPE_INDICATOR_SESSIONS) must match the lake's record.
    """

    with consumer_lock(lake, PROCESS_CONSUMER) as lock:
        return _run_process(
            stream, lake, follow, stop, metric, max_records, reset, lock, indicator_sessions
        )


def _run_process(
    stream: Stream,
    lake: Lake,
    follow: bool,
    stop: threading.Event | None,
    metric: MetricFn,
    max_records: int,
    reset: bool,
    lock: ConsumerLock,
    indicator_sessions: Sequence[str] | None,
) -> StageResult:
    from stockpipe.processing.engine import BatchStats, Processor

    consumer = Consumer(stream, lake, PROCESS_CONSUMER, reset=reset)
    processor = Processor(lake, indicator_sessions)
    totals = BatchStats.from_state(consumer.state)
    run = BatchStats()  # this run only: the summary must not mix it with the totals

    def handle(records: list[Any]) -> dict[str, Any]:
        nonlocal totals, run
        stats = processor.process(records)
        totals = totals + stats
        run = run + stats
        metric("RecordsProcessed", stats.kept, "Count")
        metric("RecordsQuarantined", stats.quarantined, "Count")
        metric("DuplicatesDropped", stats.duplicates, "Count")
        return totals.to_state()

    result = run_consumer(consumer, handle, follow, stop, max_records, metric, lock)
    result.extra = totals.to_state()
    result.run = run.to_state()
    return result
