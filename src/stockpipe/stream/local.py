"""The embedded stream: Kinesis semantics on SQLite (WAL), safe across processes.

Each record gets a sequence number from one AUTOINCREMENT counter, so sequence numbers
grow within each shard (and across the stream, as Kinesis's do over time).

Records are stored in blocks: one row per PutRecords call and shard, holding the call's
records for that shard (see `_BLOCKS`), so a put writes a few rows and a read fetches a few.
A database made with one row per record is converted when it is opened (`_migrate_rows`).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import accumulate
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
"""
# One block = the records one PutRecords call sent to one shard. The call's records have
# the consecutive sequence numbers first..first+len-1 in call order, so a shard's share
# of them is its `seq` (its first record's number) plus each record's offset from it.
# sqlite_sequence('records') holds the last number handed out, as AUTOINCREMENT did.
_BLOCKS = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- the block's first sequence number
    last_seq INTEGER NOT NULL,              -- its last one
    shard_id TEXT NOT NULL,
    record_count INTEGER NOT NULL,
    offsets TEXT,               -- JSON list of seq - first per record; NULL: seq..last_seq all
    partition_keys TEXT NOT NULL,           -- JSON list, one per record
    sizes TEXT NOT NULL,                    -- JSON list of data lengths, one per record
    data BLOB NOT NULL,                     -- the records' data, concatenated
    arrival_ms INTEGER NOT NULL             -- one arrival time per call
)"""
_BLOCK_INDEXES = """
CREATE INDEX IF NOT EXISTS blocks_by_shard ON records (shard_id, last_seq);
CREATE INDEX IF NOT EXISTS blocks_by_arrival ON records (arrival_ms);
"""


def format_seq(seq: int) -> str:
    return str(seq).zfill(SEQ_WIDTH)  # = f"{seq:020d}", at half the cost per record


def shard_name(index: int) -> str:
    return f"shardId-{index:012d}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _block_seqs(first: int, last_seq: int, offsets: str | None) -> Sequence[int]:
    """The sequence numbers of a block's records, ascending."""
    if offsets is None:
        return range(first, last_seq + 1)
    return [first + offset for offset in json.loads(offsets)]


def _pack_block(
    entries: Sequence[tuple[str, bytes]], where: list[int]
) -> tuple[str | None, str, str, bytes]:
    """The offsets, partition keys, sizes and data columns of the records at `where`
    (positions in the call, ascending) for one block row."""
    base = where[0]
    contiguous = where[-1] - base == len(where) - 1
    offsets = None if contiguous else json.dumps([i - base for i in where], separators=(",", ":"))
    keys = json.dumps([entries[i][0] for i in where], separators=(",", ":"))
    datas = [bytes(entries[i][1]) for i in where]
    sizes = json.dumps([len(d) for d in datas], separators=(",", ":"))
    return offsets, keys, sizes, b"".join(datas)


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
        self._retry(lambda: self._db.executescript(_SCHEMA + _BLOCKS + ";"))
        self._retry(self._migrate_rows)
        self._retry(lambda: self._db.executescript(_BLOCK_INDEXES))
        self._shards = self._retry(lambda: self._init_shards(shard_count))
        self._identity = self._retry(self._init_identity)

    # -- setup -------------------------------------------------------------

    def _migrate_rows(self) -> None:
        """Convert a database of one row per record (before blocks) into one-record blocks.

        One transaction: a crash leaves the old table whole, and the next open converts it.
        Sequence numbers, arrival times and the counter of numbers handed out are kept.
        """
        if not self._has_record_rows():  # the usual case: no write lock taken
            return
        with self._tx():
            if not self._has_record_rows():  # another process converted it meanwhile
                return
            row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'")
            handed_out = row.fetchone()
            self._db.execute("ALTER TABLE records RENAME TO records_v1")
            self._db.execute(_BLOCKS)
            self._db.execute(
                "INSERT INTO records (seq, last_seq, shard_id, record_count, offsets, "
                "partition_keys, sizes, data, arrival_ms) "
                "SELECT seq, seq, shard_id, 1, NULL, json_array(partition_key), "
                "json_array(length(data)), data, arrival_ms FROM records_v1 ORDER BY seq"
            )
            self._db.execute("DROP TABLE records_v1")  # its sqlite_sequence row goes with it
            self._db.execute("DELETE FROM sqlite_sequence WHERE name = 'records'")
            if handed_out is not None:
                self._db.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('records', ?)", handed_out
                )

    def _has_record_rows(self) -> bool:
        """True for the layout of one row per record (it has a `partition_key` column)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(records)")}
        return "partition_key" in columns

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
        routes: dict[str, str] = {}  # a call often repeats its keys: hash each once
        for key, _ in entries:
            if key not in routes:
                routes[key] = self.shard_for(key)
        shard_ids = [routes[key] for key, _ in entries]
        # Per shard, the positions of its records in the call (their sequence numbers are
        # the call's first number + position, as one AUTOINCREMENT insert each gave).
        positions: dict[str, list[int]] = {}
        for i, shard_id in enumerate(shard_ids):
            positions.setdefault(shard_id, []).append(i)

        def insert() -> int:
            now = self._clock()
            with self._tx():
                first = self._last_seq() + 1
                for shard_id, where in positions.items():
                    self._db.execute(
                        "INSERT INTO records (seq, last_seq, shard_id, record_count, offsets, "
                        "partition_keys, sizes, data, arrival_ms) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (first + where[0], first + where[-1], shard_id, len(where),
                         *_pack_block(entries, where), now),
                    )  # fmt: skip
                self._db.execute(
                    "UPDATE sqlite_sequence SET seq = ? WHERE name = 'records'",
                    (first + len(entries) - 1,),
                )
            return first

        first = self._retry(insert)
        self._maybe_trim()
        return [PutResult(shard_id, format_seq(first + i)) for i, shard_id in enumerate(shard_ids)]

    def _last_seq(self) -> int:
        """The last sequence number handed out (inside a write transaction)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
        if row is None:  # a database made before creation-time numbering, still empty
            row = self._db.execute("SELECT coalesce(max(last_seq), 0) FROM records").fetchone()
        return int(row[0])

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
                row = self._db.execute(
                    "SELECT coalesce(sum(record_count), 0) FROM records WHERE arrival_ms < ?",
                    (before_ms,),
                ).fetchone()
                self._db.execute("DELETE FROM records WHERE arrival_ms < ?", (before_ms,))
            return int(row[0])

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
                    "SELECT max(last_seq) FROM records WHERE shard_id = ?", (shard_id,)
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
                        "SELECT coalesce(max(last_seq), 0) FROM records WHERE shard_id = ?",
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
        records, more = self._retry(lambda: self._read_blocks(shard_id, after, limit))
        last = int(records[-1].sequence_number) if records else after
        behind = 0
        if records and more:
            behind = max(0, now - int(records[-1].arrival_ts.timestamp() * 1000))
        return GetRecordsResult(records, self._iterator(shard_id, last), behind)

    def _read_blocks(
        self, shard_id: str, after: int, limit: int
    ) -> tuple[list[StreamRecord], bool]:
        """Up to `limit` records after `after` and within MAX_GET_BYTES, in one query, and
        whether the shard holds more (millis_behind_latest). The blocks are fetched one at
        a time: the first block the batch has no room for (or cuts) answers "more"."""
        records: list[StreamRecord] = []
        size = 0
        with contextlib.closing(
            self._db.execute(
                "SELECT seq, last_seq, offsets, partition_keys, sizes, data, arrival_ms "
                "FROM records WHERE shard_id = ? AND last_seq > ? ORDER BY last_seq",
                (shard_id, after),
            )
        ) as blocks:
            for first, last_seq, offsets, keys_json, sizes_json, data, arrival_ms in blocks:
                seqs = _block_seqs(first, last_seq, offsets)
                begin = bisect_right(seqs, after)  # an iterator may point inside a block
                ends = list(accumulate(json.loads(sizes_json), initial=0))
                # Records begin..fit-1 keep the batch within MAX_GET_BYTES; the batch's first
                # record always goes in, so a read never stalls (puts keep records <= 1 MiB).
                fit = bisect_right(ends, ends[begin] + MAX_GET_BYTES - size, lo=begin) - 1
                if not records:
                    fit = max(fit, begin + 1)
                stop = min(len(seqs), begin + limit - len(records), fit)
                keys = json.loads(keys_json)
                arrival = datetime.fromtimestamp(arrival_ms / 1000, tz=UTC)
                records.extend(
                    StreamRecord(shard_id, format_seq(seq), key, data[start:end], arrival)
                    for seq, key, start, end in zip(
                        seqs[begin:stop],
                        keys[begin:stop],
                        ends[begin:stop],
                        ends[begin + 1 : stop + 1],
                        strict=True,
                    )
                )
                size += ends[stop] - ends[begin]
                if stop < len(seqs):
                    return records, True
        return records, False

    def pending(self, shard_id: str, after_sequence_number: str | None) -> int:
        """How many records of a shard lie after a position (consumer lag in records)."""
        after = int(after_sequence_number) if after_sequence_number else 0

        def count() -> int:
            # Every record of the blocks that end after the position...
            row = self._db.execute(
                "SELECT coalesce(sum(record_count), 0) FROM records "
                "WHERE shard_id = ? AND last_seq > ?",
                (shard_id, after),
            ).fetchone()
            # ...less those of the first such block at or before it (a position mid-block).
            first = self._db.execute(
                "SELECT seq, last_seq, offsets FROM records "
                "WHERE shard_id = ? AND last_seq > ? ORDER BY last_seq LIMIT 1",
                (shard_id, after),
            ).fetchone()
            passed = bisect_right(_block_seqs(*first), after) if first else 0
            return int(row[0]) - passed

        return self._retry(count)

    def describe(self) -> StreamDescription:
        """The embedded stream is always ACTIVE; it counts the records it holds."""
        row = self._retry(
            lambda: self._db.execute(
                "SELECT coalesce(sum(record_count), 0) FROM records"
            ).fetchone()
        )
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
