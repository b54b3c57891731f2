"""Named consumers with durable per-shard checkpoints, over any `Stream`.

A consumer reads from its checkpoint (`stream/checkpoint.py`), kept by a
`CheckpointStore` (the lake's, `lake/checkpoints.py`, in every stage). It commits only
after its output is durable; a crash before that means the batch is read again, never
skipped.

A checkpoint also holds the identity of the stream it was written for (`Stream.identity`)
and is checked against the stream on every start: a stream deleted and created again
numbers its records from the start, and an old checkpoint would silently skip them. A
mismatch, an unreadable checkpoint or a position past the end of a shard is a
`CheckpointError` naming the checkpoint and `--reset-checkpoints`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from stockpipe.errors import (
    Backoff,
    CheckpointError,
    ConfigError,
    ExpiredIteratorError,
    retry,
)
from stockpipe.stream.base import GetRecordsResult, ShardInfo, Stream, StreamRecord, seq_key
from stockpipe.stream.checkpoint import Checkpoint, CheckpointStore, reset_hint
from stockpipe.stream.slices import HashSlice

CONSUMER_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
INITIAL_POSITIONS = ("TRIM_HORIZON", "LATEST")


def _no_pause(_seconds: float) -> None:
    """A renewed iterator is read at once: there is nothing to wait for."""


@dataclass
class Batch:
    records: list[StreamRecord]
    positions: dict[str, str]  # shard_id -> last sequence number in this batch
    finished: list[str]  # shards that reached their end in this batch

    def __len__(self) -> int:
        return len(self.records)


class Consumer:
    """Reads a stream shard by shard, honouring lineage, from a named checkpoint.

    With a `hash_slice` (a worker of `process --workers N`, stream/slices.py) it reads only
    the shards that meet the slice and returns only the records in it; its positions
    still advance over the records it leaves to the other workers.
    """

    def __init__(
        self,
        stream: Stream,
        checkpoints: CheckpointStore,
        name: str,
        initial_position: str = "TRIM_HORIZON",
        *,
        reset: bool = False,
        hash_slice: HashSlice | None = None,
    ) -> None:
        if not CONSUMER_NAME_RE.match(name):
            raise ConfigError(
                f"consumer name {name!r} is invalid: use lowercase letters, digits, - and _"
            )
        if initial_position not in INITIAL_POSITIONS:
            raise ConfigError(f"initial position must be one of {INITIAL_POSITIONS}")
        self.stream = stream
        self.checkpoints = checkpoints
        self.name = name
        self.initial_position = initial_position
        self.hash_slice = hash_slice
        if reset:
            self.checkpoint = reset_checkpoint(stream, checkpoints, name)
        else:
            self.checkpoint = checkpoints.load(name)
            verify_checkpoint(stream, checkpoints, self.checkpoint)
        self._iterators: dict[str, str] = {}
        self._read: dict[str, str] = dict(self.checkpoint.shards)  # last seq read
        self._ended: set[str] = set(self.checkpoint.finished)
        self._last_call: dict[str, float] = {}
        self._behind: dict[str, int] = {}
        self._shards: list[ShardInfo] = []
        self._shards_at = 0.0
        self._idle = False
        self._sleep = time.sleep
        self.caught_up = False

    @property
    def state(self) -> dict[str, Any]:
        return self.checkpoint.state

    def _refresh_shards(self, *, force: bool = False) -> None:
        if force or not self._shards or time.monotonic() - self._shards_at > 10:
            self._shards = self.stream.list_shards()
            self._shards_at = time.monotonic()

    def _mine(self, shard: ShardInfo) -> bool:
        return self.hash_slice is None or self.hash_slice.meets(shard)

    def _readable(self) -> list[ShardInfo]:
        """Open work: unfinished shards whose parents have all been read to their end."""
        known = {s.shard_id for s in self._shards if self._mine(s)}
        out = []
        for shard in self._shards:
            if shard.shard_id in self._ended or not self._mine(shard):
                continue
            # A parent trimmed away by retention (or outside our slice: a merge's other
            # parent) does not block its children.
            if all(p in self._ended or p not in known for p in shard.parents()):
                out.append(shard)
        return out

    def _iterator(self, shard_id: str) -> str:
        it = self._iterators.get(shard_id)
        if it is None:
            last = self._read.get(shard_id)
            if last is not None:
                it = self.stream.get_shard_iterator(shard_id, "AFTER_SEQUENCE_NUMBER", last)
            elif self._child_of_ended(shard_id):
                # A child of a shard we read to its end starts at its beginning, even for a
                # LATEST consumer: LATEST would skip what arrived since the split or merge.
                it = self.stream.get_shard_iterator(shard_id, "TRIM_HORIZON")
            else:
                it = self.stream.get_shard_iterator(shard_id, self.initial_position)
            self._iterators[shard_id] = it
        return it

    def poll(self, max_records: int = 10000) -> Batch:
        """Read up to `max_records` from the readable shards. Empty means nothing new now."""
        self._refresh_shards()
        self._pace(self._readable())
        records: list[StreamRecord] = []
        positions: dict[str, str] = {}
        finished: list[str] = []
        all_quiet = True
        refresh = False
        for shard in self._readable():
            remaining = max_records - len(records)
            if remaining <= 0:
                all_quiet = False
                break
            wait = self.stream.min_poll_interval - (
                time.monotonic() - self._last_call.get(shard.shard_id, 0.0)
            )
            if wait > 0:
                all_quiet = False
                continue
            self._last_call[shard.shard_id] = time.monotonic()
            result = self._get_records(shard.shard_id, remaining)
            self._behind[shard.shard_id] = result.millis_behind_latest
            if result.records:
                records.extend(self._kept(shard, result.records))
                last = result.records[-1].sequence_number
                positions[shard.shard_id] = last
                self._read[shard.shard_id] = last
                all_quiet = False
            if result.millis_behind_latest > 0:
                all_quiet = False
            if result.next_iterator is None:
                self._ended.add(shard.shard_id)
                self._iterators.pop(shard.shard_id, None)
                finished.append(shard.shard_id)
                all_quiet = False  # its children may now be readable
                refresh = True
            else:
                self._iterators[shard.shard_id] = result.next_iterator
        self.caught_up = all_quiet
        self._idle = not records
        if refresh:
            # A split or merge closed a shard: discover its children now, not in 10 s.
            self._refresh_shards(force=True)
        return Batch(records, positions, finished)

    def _kept(self, shard: ShardInfo, records: list[StreamRecord]) -> list[StreamRecord]:
        """The records of `shard` this consumer processes: all of them, or its slice's."""
        if self.hash_slice is None or self.hash_slice.covers(shard):
            return records
        return self.hash_slice.keep(records)

    def _get_records(self, shard_id: str, limit: int) -> GetRecordsResult:
        """One GetRecords; an expired iterator is renewed once, at once, from the last
        record read (so nothing is skipped), through the one retry helper."""
        return retry(
            lambda: self.stream.get_records(self._iterator(shard_id), limit),
            f"reading shard {shard_id}",
            Backoff(max_attempts=2, sleep=_no_pause),
            transient=lambda exc: isinstance(exc, ExpiredIteratorError),
            on_retry=lambda _exc: self._forget_iterator(shard_id),
        )

    def _forget_iterator(self, shard_id: str) -> None:
        self._iterators.pop(shard_id, None)

    def _child_of_ended(self, shard_id: str) -> bool:
        shard = next((s for s in self._shards if s.shard_id == shard_id), None)
        return shard is not None and any(p in self._ended for p in shard.parents())

    def _pace(self, shards: list[ShardInfo]) -> None:
        """Sleep so no shard is polled faster than the stream allows.

        After a poll that returned nothing, wait the backend's idle interval (a polite
        sleep on an empty stream, never a busy loop); otherwise its minimum interval.
        Backends without limits (the embedded stream) never sleep here.
        """
        interval = self.stream.min_poll_interval
        if self._idle:
            interval = max(interval, self.stream.idle_poll_interval)
        if interval <= 0 or not shards:
            return
        now = time.monotonic()
        wait = max(interval - (now - self._last_call.get(s.shard_id, 0.0)) for s in shards)
        if wait > 0:
            self._sleep(min(wait, interval))

    def commit(self, batch: Batch, state: dict[str, Any] | None = None) -> None:
        """Advance the checkpoint past `batch`. Call only once its output is durable."""
        if self.checkpoint.stream is None:
            self.checkpoint.stream = self.stream.identity()
        self.checkpoint.shards.update(batch.positions)
        for shard_id in batch.finished:
            if shard_id not in self.checkpoint.finished:
                self.checkpoint.finished.append(shard_id)
        if state is not None:
            self.checkpoint.state = state
        self.checkpoints.save(self.checkpoint)

    @property
    def millis_behind(self) -> int:
        """The largest MillisBehindLatest seen on the last poll of each shard."""
        return max(self._behind.values(), default=0)

    def lag(self) -> dict[str, dict[str, Any]]:
        """Per shard: committed position, records pending (if countable), ms behind."""
        self._refresh_shards()
        out: dict[str, dict[str, Any]] = {}
        for shard in self._shards:
            committed = self.checkpoint.shards.get(shard.shard_id)
            out[shard.shard_id] = {
                "checkpoint": committed,
                "pending": self.stream.pending(shard.shard_id, committed),
                "millis_behind": self._behind.get(shard.shard_id),
                "finished": shard.shard_id in self.checkpoint.finished,
            }
        return out


def _describe(identity: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(identity.items()) if k != "kind")


def verify_checkpoint(stream: Stream, store: CheckpointStore, checkpoint: Checkpoint) -> None:
    """Refuse a checkpoint that does not belong to `stream`, instead of skipping records.

    A checkpoint without positions is new: it takes the stream's identity at its first
    commit. One written before checkpoints named their stream is checked by its positions
    alone (none may lie past the end of its shard) and adopts the stream on its next commit.
    """
    where = store.where(checkpoint.consumer)
    if checkpoint.stream is not None:
        now = stream.identity()
        if checkpoint.stream != now:
            raise CheckpointError(
                f"checkpoint {where} was written for another stream ({_describe(checkpoint.stream)}) "
                f"than the one read now ({_describe(now)}): the stream was deleted or created "
                "again, its sequence numbers start over, and reading on would skip records; "
                + reset_hint(checkpoint.consumer)
            )
    if not checkpoint.shards:
        return
    shards = {s.shard_id: s for s in stream.list_shards()}
    for shard_id, seq in sorted(checkpoint.shards.items()):
        shard = shards.get(shard_id)
        if shard is None:
            if shard_id in checkpoint.finished:
                continue  # read to its end, then dropped by retention: nothing is missed
            raise CheckpointError(
                f"checkpoint {where} names shard {shard_id}, which stream {stream.name!r} "
                "does not have: it was read from another stream, or the shard expired "
                "before it was read to its end; " + reset_hint(checkpoint.consumer)
            )
        end = shard.ending_sequence_number or stream.end_of_shard(shard_id)
        if end is not None and seq_key(seq) > seq_key(end):
            raise CheckpointError(
                f"checkpoint {where} is at sequence number {seq} of {shard_id}, past the "
                f"end of that shard ({end}): it was read from another stream; "
                + reset_hint(checkpoint.consumer)
            )


def reset_checkpoint(stream: Stream, store: CheckpointStore, consumer: str) -> Checkpoint:
    """`--reset-checkpoints`: forget the positions (the stream is read from its start),
    keep the counters, and tie the checkpoint to the stream read now. Saved at once."""
    try:
        state = store.load(consumer).state
    except CheckpointError:
        state = {}  # a corrupted checkpoint has no counters worth keeping
    fresh = Checkpoint(consumer, state=state, stream=stream.identity())
    store.save(fresh)
    return fresh
