"""The embedded stream: Kinesis semantics on SQLite (WAL), safe across processes.

Each record gets a sequence number from one AUTOINCREMENT counter, so sequence numbers
grow within each shard (and across the stream, as Kinesis's do over time).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from stockpipe.errors import (
    ConfigError,
    ExpiredIteratorError,
    StreamBusyError,
    StreamError,
)
from stockpipe.stream.base import (
    GetRecordsResult,
    PutResult,
    ShardInfo,
    Stream,
    StreamDescription,
    StreamRecord,
    check_iterator_request,
    check_put_limits,
    even_hash_ranges,
    hash_key,
)

ITERATOR_TTL_MS = 5 * 60 * 1000  # Kinesis iterators expire after five minutes
MAX_GET_BYTES = 10 * 1024 * 1024  # GetRecords returns at most 10 MiB
SEQ_WIDTH = 20  # zero-padded, so string order is numeric order
SEQ_PER_MS = 1_000_000  # first sequence number = creation time in ms x this (fits 20 digits)
_BUSY_RETRIES = 8

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shards (
    shard_id TEXT PRIMARY KEY,
    start_hash TEXT NOT NULL,
    end_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    shard_id TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    data BLOB NOT NULL,
    arrival_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_shard ON records (shard_id, seq);
CREATE INDEX IF NOT EXISTS records_by_arrival ON records (arrival_ms);
"""


def format_seq(seq: int) -> str:
    return f"{seq:0{SEQ_WIDTH}d}"


def shard_name(index: int) -> str:
    return f"shardId-{index:012d}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class LocalStream(Stream):
    """A durable, multi-process stream in one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        name: str = "stockpipe",
        shard_count: int = 4,
        retention_hours: float = 24.0,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        if shard_count < 1 or shard_count > 64:
            raise ConfigError(f"shard count {shard_count} is out of range: use 1-64")
        self.name = name
        self.path = Path(path)
        self.retention_ms = int(retention_hours * 3600 * 1000)
        self._clock = clock_ms
        self._last_trim = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._retry(lambda: self._db.executescript(_SCHEMA))
        self._shards = self._retry(lambda: self._init_shards(shard_count))
        self._identity = self._retry(self._init_identity)

    # -- setup -------------------------------------------------------------

    def _init_shards(self, shard_count: int) -> list[ShardInfo]:
        with self._tx():
            rows = self._db.execute(
                "SELECT shard_id, start_hash, end_hash FROM shards ORDER BY shard_id"
            ).fetchall()
            if not rows:
                for i, (start, end) in enumerate(even_hash_ranges(shard_count)):
                    self._db.execute(
                        "INSERT INTO shards VALUES (?, ?, ?)", (shard_name(i), str(start), str(end))
                    )
                # A new stream numbers its records from its creation time, as Kinesis does,
                # so a stream created again over the same lake never reuses a position the
                # lake already holds: positions order versions and identify quarantine rows.
                has = self._db.execute(
                    "SELECT 1 FROM sqlite_sequence WHERE name = 'records'"
                ).fetchone()
                if not has:
                    self._db.execute(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES ('records', ?)",
                        (self._clock() * SEQ_PER_MS,),
                    )
                rows = self._db.execute(
                    "SELECT shard_id, start_hash, end_hash FROM shards ORDER BY shard_id"
                ).fetchall()
        return [ShardInfo(r[0], int(r[1]), int(r[2])) for r in rows]

    def _init_identity(self) -> dict[str, str]:
        """A random id made once per stream database (also for one made before ids were)."""
        with self._tx():
            for key, value in (
                ("stream_id", uuid.uuid4().hex),
                ("created_at", datetime.now(UTC).isoformat(timespec="seconds")),
            ):
                self._db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
            rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        return {
            "kind": "local",
            "stream_id": str(rows["stream_id"]),
            "created_at": str(rows["created_at"]),
        }

    def identity(self) -> dict[str, str]:
        return dict(self._identity)

    def end_of_shard(self, shard_id: str) -> str:
        """The last sequence number handed out (AUTOINCREMENT never reuses or goes back)."""
        self._check_shard(shard_id)
        row = self._retry(
            lambda: self._db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'records'"
            ).fetchone()
        )
        return format_seq(int(row[0]) if row else 0)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _retry(self, fn: Callable[[], T]) -> T:
        """Retry a locked or busy database within bounds, then give up clearly."""
        delay = 0.05
        for attempt in range(_BUSY_RETRIES):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                msg = str(exc)
                if "locked" not in msg and "busy" not in msg:
                    raise StreamError(f"stream database {self.path}: {msg}") from exc
                if attempt == _BUSY_RETRIES - 1:
                    raise StreamBusyError(
                        f"stream database {self.path} stayed locked after "
                        f"{_BUSY_RETRIES} attempts; is another process holding it?"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    # -- producer ----------------------------------------------------------

    def shard_for(self, partition_key: str) -> str:
        h = hash_key(partition_key)
        for shard in self._shards:
            if shard.starting_hash_key <= h <= shard.ending_hash_key:
                return shard.shard_id
        raise StreamError(f"no shard covers hash key {h}")  # ranges cover the space

    def put_records(self, entries: Sequence[tuple[str, bytes]]) -> list[PutResult]:
        check_put_limits(entries)
        routed = [(self.shard_for(key), key, bytes(data)) for key, data in entries]

        def insert() -> list[PutResult]:
            now = self._clock()
            results = []
            with self._tx():
                for shard_id, key, data in routed:
                    cur = self._db.execute(
                        "INSERT INTO records (shard_id, partition_key, data, arrival_ms) "
                        "VALUES (?, ?, ?, ?)",
                        (shard_id, key, data, now),
                    )
                    results.append(PutResult(shard_id, format_seq(int(cur.lastrowid or 0))))
            return results

        results = self._retry(insert)
        self._maybe_trim()
        return results

    def _maybe_trim(self) -> None:
        now = self._clock()
        if now - self._last_trim < 60_000:
            return
        self._last_trim = now
        self.trim(now - self.retention_ms)

    def trim(self, before_ms: int) -> int:
        """Drop records that arrived before `before_ms` (the retention period)."""

        def delete() -> int:
            with self._tx():
                cur = self._db.execute("DELETE FROM records WHERE arrival_ms < ?", (before_ms,))
            return cur.rowcount

        return self._retry(delete)

    # -- consumer primitives ---------------------------------------------

    def list_shards(self) -> list[ShardInfo]:
        return list(self._shards)

    def _check_shard(self, shard_id: str) -> None:
        if shard_id not in {s.shard_id for s in self._shards}:
            raise StreamError(f"stream {self.name!r} has no shard {shard_id!r}")

    def get_shard_iterator(
        self,
        shard_id: str,
        iterator_type: str,
        sequence_number: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        self._check_shard(shard_id)
        check_iterator_request(iterator_type, sequence_number, timestamp)
        if iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            seq = int(sequence_number or 0)
            after = seq - 1 if iterator_type == "AT_SEQUENCE_NUMBER" else seq
        elif iterator_type == "TRIM_HORIZON":
            after = 0
        elif iterator_type == "LATEST":
            row = self._retry(
                lambda: self._db.execute(
                    "SELECT max(seq) FROM records WHERE shard_id = ?", (shard_id,)
                ).fetchone()
            )
            after = row[0] or 0
            # A shard with no records yet: later records all get larger numbers.
            if after == 0:
                row = self._retry(
                    lambda: self._db.execute(
                        "SELECT seq FROM sqlite_sequence WHERE name = 'records'"
                    ).fetchone()
                )
                after = row[0] if row else 0
        else:
            assert timestamp is not None  # checked by check_iterator_request
            ts_ms = int(timestamp.timestamp() * 1000)
            row = self._retry(
                lambda: self._db.execute(
                    "SELECT min(seq) FROM records WHERE shard_id = ? AND arrival_ms >= ?",
                    (shard_id, ts_ms),
                ).fetchone()
            )
            if row[0] is not None:
                after = row[0] - 1
            else:
                row = self._retry(
                    lambda: self._db.execute(
                        "SELECT coalesce(max(seq), 0) FROM records WHERE shard_id = ?",
                        (shard_id,),
                    ).fetchone()
                )
                after = row[0]
        return self._iterator(shard_id, after)

    def _iterator(self, shard_id: str, after: int) -> str:
        return f"v1:{shard_id}:{after}:{self._clock()}"

    def get_records(self, iterator: str, limit: int = 10000) -> GetRecordsResult:
        try:
            version, shard_id, after_text, issued_text = iterator.split(":")
            after, issued = int(after_text), int(issued_text)
        except ValueError as exc:
            raise StreamError(f"malformed shard iterator {iterator[:40]!r}") from exc
        if version != "v1":
            raise StreamError(f"malformed shard iterator {iterator[:40]!r}")
        self._check_shard(shard_id)
        now = self._clock()
        if now - issued > ITERATOR_TTL_MS:
            raise ExpiredIteratorError(
                f"iterator for {shard_id} expired {(now - issued) // 1000}s after it was issued"
            )
        limit = max(1, min(limit, 10000))
        # One query for the whole batch, plus one row more: that row only says whether
        # the shard holds records beyond the batch (millis_behind_latest), so no second
        # query is needed for it.
        rows = self._retry(
            lambda: self._db.execute(
                "SELECT seq, partition_key, data, arrival_ms FROM records "
                "WHERE shard_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (shard_id, after, limit + 1),
            ).fetchall()
        )
        more = len(rows) > limit
        records: list[StreamRecord] = []
        size = 0
        # The records of one put_records call share their arrival time: one datetime each.
        arrivals: dict[int, datetime] = {}
        for seq, key, data, arrival_ms in rows[:limit]:
            size += len(data)
            if records and size > MAX_GET_BYTES:
                more = True
                break
            arrival = arrivals.get(arrival_ms)
            if arrival is None:
                arrival = arrivals[arrival_ms] = datetime.fromtimestamp(arrival_ms / 1000, tz=UTC)
            records.append(
                StreamRecord(
                    shard_id=shard_id,
                    sequence_number=format_seq(seq),
                    partition_key=key,
                    data=data if isinstance(data, bytes) else bytes(data),
                    arrival_ts=arrival,
                )
            )
        last = int(records[-1].sequence_number) if records else after
        behind = 0
        if records and more:
            behind = max(0, now - int(records[-1].arrival_ts.timestamp() * 1000))
        return GetRecordsResult(records, self._iterator(shard_id, last), behind)

    def pending(self, shard_id: str, after_sequence_number: str | None) -> int:
        """How many records of a shard lie after a position (consumer lag in records)."""
        after = int(after_sequence_number) if after_sequence_number else 0
        row = self._retry(
            lambda: self._db.execute(
                "SELECT count(*) FROM records WHERE shard_id = ? AND seq > ?", (shard_id, after)
            ).fetchone()
        )
        return int(row[0])

    def describe(self) -> StreamDescription:
        """The embedded stream is always ACTIVE; it counts the records it holds."""
        row = self._retry(lambda: self._db.execute("SELECT count(*) FROM records").fetchone())
        return StreamDescription(
            name=self.name,
            kind="local",
            status="ACTIVE",
            mode="EMBEDDED",
            retention_hours=self.retention_ms / 3_600_000,
            shards=tuple(self._shards),
            records=int(row[0]),
        )

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
