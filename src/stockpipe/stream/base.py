"""The stream contract, shaped after Kinesis Data Streams.

Backends (`LocalStream`, `KinesisStream`) implement the shard-level primitives; the
generic `Consumer` in `consumer.py` adds named checkpoints and shard lineage on top,
so no stage can tell the backends apart.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from stockpipe.errors import StreamError, StreamLimitError

# Kinesis service limits for PutRecords.
MAX_RECORDS_PER_PUT = 500
MAX_RECORD_BYTES = 1024 * 1024  # data + partition key
MAX_PUT_BYTES = 5 * 1024 * 1024
MAX_PARTITION_KEY_LEN = 256
MAX_HASH_KEY = 2**128 - 1

ITERATOR_TYPES = (
    "TRIM_HORIZON",
    "LATEST",
    "AT_SEQUENCE_NUMBER",
    "AFTER_SEQUENCE_NUMBER",
    "AT_TIMESTAMP",
)


def hash_key(partition_key: str) -> int:
    """Kinesis maps a partition key to a shard by MD5 -> 128-bit big-endian integer."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")  # noqa: S324


def even_hash_ranges(shard_count: int) -> list[tuple[int, int]]:
    """The ranges CreateStream gives N shards: equal slices of [0, 2**128 - 1]."""
    size = (MAX_HASH_KEY + 1) // shard_count
    ranges = []
    for i in range(shard_count):
        start = i * size
        end = MAX_HASH_KEY if i == shard_count - 1 else (i + 1) * size - 1
        ranges.append((start, end))
    return ranges


@dataclass(frozen=True, slots=True)
class ShardInfo:
    shard_id: str
    starting_hash_key: int
    ending_hash_key: int
    parent_shard_id: str | None = None
    adjacent_parent_shard_id: str | None = None
    # Set once the shard is closed by a split or merge: its last sequence number.
    ending_sequence_number: str | None = None

    @property
    def closed(self) -> bool:
        return self.ending_sequence_number is not None

    def parents(self) -> list[str]:
        return [p for p in (self.parent_shard_id, self.adjacent_parent_shard_id) if p]


@dataclass(frozen=True, slots=True)
class StreamRecord:
    shard_id: str
    sequence_number: str  # decimal digits; compare with seq_key()
    partition_key: str
    data: bytes
    arrival_ts: datetime  # ApproximateArrivalTimestamp, UTC-aware


@dataclass(frozen=True, slots=True)
class PutResult:
    shard_id: str
    sequence_number: str


@dataclass(frozen=True, slots=True)
class GetRecordsResult:
    records: list[StreamRecord]
    next_iterator: str | None  # None once a closed shard is read to its end
    millis_behind_latest: int


@dataclass(frozen=True, slots=True)
class StreamDescription:
    """What `Stream.describe()` reports, the same fields on every backend."""

    name: str
    kind: str  # "local" (embedded SQLite) or "kinesis"
    status: str  # ACTIVE, CREATING, UPDATING, DELETING (the embedded stream is ACTIVE)
    mode: str  # PROVISIONED or ON_DEMAND on Kinesis; EMBEDDED for the local stream
    retention_hours: float
    shards: tuple[ShardInfo, ...]
    # Records the stream holds now, when the backend can count them cheaply (else None).
    records: int | None = None

    @property
    def open_shards(self) -> int:
        return sum(1 for s in self.shards if not s.closed)


def check_iterator_request(
    iterator_type: str, sequence_number: str | None, timestamp: datetime | None
) -> None:
    """The one validation of GetShardIterator's arguments, so that every backend refuses a
    bad request with the same error (a StreamError: the stream refused the operation)."""
    if iterator_type not in ITERATOR_TYPES:
        raise StreamError(
            f"iterator type {iterator_type!r} is unknown; use one of {', '.join(ITERATOR_TYPES)}"
        )
    if iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        if not sequence_number or not sequence_number.isdigit():
            raise StreamError(f"{iterator_type} needs a decimal sequence number")
    elif iterator_type == "AT_TIMESTAMP" and (timestamp is None or timestamp.tzinfo is None):
        raise StreamError("AT_TIMESTAMP needs a timezone-aware timestamp")


def seq_key(sequence_number: str) -> int:
    """Sequence numbers are decimal strings; order them as integers."""
    return int(sequence_number)


def check_put_limits(entries: Sequence[tuple[str, bytes]]) -> None:
    """Raise StreamLimitError if a PutRecords call would break a Kinesis limit."""
    if not entries:
        raise StreamLimitError("PutRecords needs at least one record")
    if len(entries) > MAX_RECORDS_PER_PUT:
        raise StreamLimitError(
            f"PutRecords got {len(entries)} records; the limit is {MAX_RECORDS_PER_PUT} per call"
        )
    total = 0
    for i, (key, data) in enumerate(entries):
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_PARTITION_KEY_LEN:
            raise StreamLimitError(
                f"record {i}: partition key must be 1-{MAX_PARTITION_KEY_LEN} characters, "
                f"got {len(key) if isinstance(key, str) else type(key).__name__}"
            )
        try:
            key_bytes = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            # A lone surrogate cannot be hashed or stored; Kinesis refuses it as well.
            raise StreamLimitError(
                f"record {i}: partition key {key!r} is not valid Unicode; use plain text"
            ) from None
        size = len(data) + key_bytes
        if size > MAX_RECORD_BYTES:
            raise StreamLimitError(
                f"record {i} is {size} bytes; the limit is {MAX_RECORD_BYTES} (1 MiB) per record"
            )
        total += size
    if total > MAX_PUT_BYTES:
        raise StreamLimitError(
            f"PutRecords payload is {total} bytes; the limit is {MAX_PUT_BYTES} (5 MiB) per call"
        )


class Stream(ABC):
    """Shard-level primitives of a Kinesis-like stream."""

    name: str

    @abstractmethod
    def put_records(self, entries: Sequence[tuple[str, bytes]]) -> list[PutResult]:
        """Append (partition_key, data) entries; all or nothing is never promised by
        Kinesis, so implementations retry what failed and return one result per entry."""

    @abstractmethod
    def list_shards(self) -> list[ShardInfo]:
        """Every shard, open and closed, that still holds data (ListShards)."""

    @abstractmethod
    def get_shard_iterator(
        self,
        shard_id: str,
        iterator_type: str,
        sequence_number: str | None = None,
        timestamp: datetime | None = None,
    ) -> str: ...

    @abstractmethod
    def get_records(self, iterator: str, limit: int = 10000) -> GetRecordsResult: ...

    @abstractmethod
    def identity(self) -> dict[str, str]:
        """What tells this stream apart from any other of the same name, now or later.

        Stored in every checkpoint and compared on every read: a stream deleted and
        created again numbers its records afresh, so an old checkpoint would skip them.
        """

    @abstractmethod
    def describe(self) -> StreamDescription:
        """Name, kind, status, capacity mode, retention and shards (DescribeStreamSummary
        plus ListShards on Kinesis): what `stockpipe stream describe` and the health panel
        show, without asking which backend this is."""

    def end_of_shard(self, shard_id: str) -> str | None:
        """The largest sequence number the shard can hold now, when the backend knows it
        (a checkpoint beyond it cannot come from this stream); None when it does not."""
        return None

    def pending(self, shard_id: str, after_sequence_number: str | None) -> int | None:
        """Records of a shard after a position, when the backend can count them cheaply."""
        return None

    #: Minimum seconds between GetRecords calls on one shard (Kinesis allows 5 per second).
    min_poll_interval: float = 0.0
    #: Seconds a consumer waits after a poll that found nothing (0: no wait).
    idle_poll_interval: float = 0.0

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def batched_puts(entries: Sequence[tuple[str, bytes]]) -> list[list[tuple[str, bytes]]]:
    """Split entries into PutRecords calls that respect the count and size limits."""
    calls: list[list[tuple[str, bytes]]] = []
    current: list[tuple[str, bytes]] = []
    size = 0
    for key, data in entries:
        rec = len(data) + len(key.encode("utf-8"))
        if current and (len(current) >= MAX_RECORDS_PER_PUT or size + rec > MAX_PUT_BYTES):
            calls.append(current)
            current, size = [], 0
        current.append((key, data))
        size += rec
    if current:
        calls.append(current)
    return calls
