"""The embedded stream stores one row per PutRecords call and shard (a block); every record
keeps the sequence number, order and arrival time one row per record gave it, and a
database made with one row per record is converted when opened (issue 21 item 4)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from stream_support import T0_MS, Clock

from stockpipe.stream.base import StreamRecord, even_hash_ranges
from stockpipe.stream.local import LocalStream

S = T0_MS * 1_000_000  # a new stream's counter: its first record is S + 1
SHARD0, SHARD1 = "shardId-000000000000", "shardId-000000000001"
# On two shards AMZN and NVDA hash to shard 0, AAPL and MSFT to shard 1.


def seq(n: int) -> str:
    return f"{S + n:020d}"


@pytest.fixture
def clock() -> Clock:
    return Clock(T0_MS)


@pytest.fixture
def stream(tmp_path: Path, clock: Clock):  # type: ignore[no-untyped-def]
    s = LocalStream(tmp_path / "stream.db", shard_count=2, clock_ms=clock)
    yield s
    s.close()


def read(  # type: ignore[no-untyped-def]
    stream: LocalStream, shard: str, kind: str = "TRIM_HORIZON", limit: int = 2, **kw
) -> list[StreamRecord]:
    it = stream.get_shard_iterator(shard, kind, **kw)
    out: list[StreamRecord] = []
    while True:
        res = stream.get_records(it, limit=limit)
        if not res.records:
            return out
        out.extend(res.records)
        it = res.next_iterator


def put_mixed_calls(stream: LocalStream, clock: Clock) -> None:
    """Call A (at T0) spreads over both shards: S+1..S+5; call B (at T0 + 1 s): S+6, S+7."""
    put_a = stream.put_records(
        [("AAPL", b"a0"), ("AMZN", b"z0"), ("AAPL", b"a1"), ("AAPL", b"a2"), ("NVDA", b"n0")]
    )
    assert [(r.shard_id, r.sequence_number) for r in put_a] == [
        (SHARD1, seq(1)),
        (SHARD0, seq(2)),
        (SHARD1, seq(3)),
        (SHARD1, seq(4)),
        (SHARD0, seq(5)),
    ]
    clock.ms = T0_MS + 1_000
    put_b = stream.put_records([("AMZN", b"z1"), ("AAPL", b"a3")])
    assert [(r.shard_id, r.sequence_number) for r in put_b] == [(SHARD0, seq(6)), (SHARD1, seq(7))]


def test_a_call_over_two_shards_keeps_each_records_number_and_order(
    stream: LocalStream, clock: Clock
) -> None:
    put_mixed_calls(stream, clock)
    one = read(stream, SHARD1)
    assert [(r.sequence_number, r.data, r.partition_key) for r in one] == [
        (seq(1), b"a0", "AAPL"),
        (seq(3), b"a1", "AAPL"),
        (seq(4), b"a2", "AAPL"),
        (seq(7), b"a3", "AAPL"),
    ]
    t0 = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert [r.arrival_ts for r in one] == [
        t0,
        t0,
        t0,
        datetime(2023, 11, 14, 22, 13, 21, tzinfo=UTC),
    ]
    zero = read(stream, SHARD0)
    assert [(r.sequence_number, r.data) for r in zero] == [
        (seq(2), b"z0"),
        (seq(5), b"n0"),
        (seq(6), b"z1"),
    ]
    assert {r.shard_id for r in zero} == {SHARD0}
    assert stream.end_of_shard(SHARD0) == seq(7)
    # Two rows per call at most: one per shard it touched.
    rows = stream._db.execute("SELECT count(*) FROM records").fetchone()[0]
    assert rows == 4


def test_iterators_inside_a_block(stream: LocalStream, clock: Clock) -> None:
    put_mixed_calls(stream, clock)
    data = lambda records: [r.data for r in records]  # noqa: E731
    assert data(read(stream, SHARD1, "AT_SEQUENCE_NUMBER", sequence_number=seq(3))) == [
        b"a1",
        b"a2",
        b"a3",
    ]
    assert data(read(stream, SHARD1, "AFTER_SEQUENCE_NUMBER", sequence_number=seq(3))) == [
        b"a2",
        b"a3",
    ]
    # A number that belongs to the other shard, between two of this shard's records.
    assert data(read(stream, SHARD1, "AFTER_SEQUENCE_NUMBER", sequence_number=seq(2))) == [
        b"a1",
        b"a2",
        b"a3",
    ]
    assert data(read(stream, SHARD1, "AT_SEQUENCE_NUMBER", sequence_number=seq(5))) == [b"a3"]
    at_b = datetime(2023, 11, 14, 22, 13, 20, 500_000, tzinfo=UTC)
    assert data(read(stream, SHARD1, "AT_TIMESTAMP", timestamp=at_b)) == [b"a3"]
    assert data(read(stream, SHARD0, "AT_TIMESTAMP", timestamp=at_b)) == [b"z1"]
    latest = stream.get_shard_iterator(SHARD0, "LATEST")
    stream.put_records([("AAPL", b"a4"), ("NVDA", b"n1")])
    assert [(r.sequence_number, r.data) for r in stream.get_records(latest).records] == [
        (seq(9), b"n1")
    ]


def test_limits_cut_a_block_and_the_rest_counts_as_behind(
    stream: LocalStream, clock: Clock
) -> None:
    put_mixed_calls(stream, clock)
    clock.ms = T0_MS + 5_000
    first = stream.get_records(stream.get_shard_iterator(SHARD1, "TRIM_HORIZON"), limit=2)
    assert [r.data for r in first.records] == [b"a0", b"a1"]
    assert first.millis_behind_latest == 5_000  # a1 arrived at T0; a2 and a3 remain
    second = stream.get_records(first.next_iterator, limit=1)
    assert [r.data for r in second.records] == [b"a2"]
    assert second.millis_behind_latest == 5_000
    third = stream.get_records(second.next_iterator, limit=1)
    assert [r.data for r in third.records] == [b"a3"]
    assert third.millis_behind_latest == 0


def test_pending_counts_records_not_rows(stream: LocalStream, clock: Clock) -> None:
    put_mixed_calls(stream, clock)
    assert stream.pending(SHARD1, None) == 4
    assert [stream.pending(SHARD1, seq(n)) for n in range(1, 8)] == [3, 3, 2, 1, 1, 1, 0]
    assert [stream.pending(SHARD0, seq(n)) for n in range(1, 8)] == [3, 2, 2, 2, 1, 0, 0]
    stream.put_records([("AAPL", b"a4"), ("MSFT", b"m0"), ("AAPL", b"a5")])  # S+8..S+10
    assert [stream.pending(SHARD1, seq(n)) for n in range(7, 11)] == [3, 2, 1, 0]


def test_the_byte_limit_can_end_a_batch_inside_a_block(tmp_path: Path, clock: Clock) -> None:
    stream = LocalStream(tmp_path / "big.db", shard_count=1, clock_ms=clock)
    mb = b"p" * 999_998
    stream.put_records([("BIG", mb + b"00")])
    # Five records of 1,000,000 bytes per call: within the 5 MiB (5,242,880) call limit.
    stream.put_records([("BIG", mb + f"{i:02d}".encode()) for i in range(1, 6)])
    stream.put_records([("BIG", mb + f"{i:02d}".encode()) for i in range(6, 11)])
    clock.ms = T0_MS + 3_000
    res = stream.get_records(stream.get_shard_iterator(SHARD0, "TRIM_HORIZON"))
    # 10 x 1,000,000 bytes fit in 10 MiB (10,485,760); the 11th, inside the third call, not.
    assert [r.data[-2:] for r in res.records] == [f"{i:02d}".encode() for i in range(10)]
    assert [r.sequence_number for r in res.records] == [seq(n) for n in range(1, 11)]
    assert res.millis_behind_latest == 3_000
    rest = stream.get_records(res.next_iterator)
    assert [(r.sequence_number, r.data[-2:]) for r in rest.records] == [(seq(11), b"10")]
    assert rest.millis_behind_latest == 0
    stream.close()


def test_a_record_over_the_byte_limit_is_still_returned_alone(
    stream: LocalStream, clock: Clock
) -> None:
    """No put can store it (1 MiB per record), but a read must not stall on one."""
    stream._db.execute(
        "INSERT INTO records (seq, last_seq, shard_id, record_count, offsets, partition_keys, "
        'sizes, data, arrival_ms) VALUES (?, ?, ?, 2, NULL, \'["K","K"]\', ?, ?, ?)',
        (S + 1, S + 2, SHARD0, "[11000000,1]", b"x" * 11_000_000 + b"y", T0_MS),
    )
    it = stream.get_shard_iterator(SHARD0, "TRIM_HORIZON")
    first = stream.get_records(it)
    assert [len(r.data) for r in first.records] == [11_000_000]
    assert [r.data for r in stream.get_records(first.next_iterator).records] == [b"y"]


def test_trim_drops_whole_calls_and_counts_their_records(tmp_path: Path, clock: Clock) -> None:
    stream = LocalStream(tmp_path / "r.db", shard_count=2, retention_hours=1, clock_ms=clock)
    stream.put_records([("AAPL", b"a0"), ("AMZN", b"z0"), ("AAPL", b"a1")])
    clock.ms = T0_MS + 10_000
    stream.put_records([("AAPL", b"a2")])
    assert stream.trim(T0_MS + 1) == 3
    assert [r.data for r in read(stream, SHARD1)] == [b"a2"]
    assert read(stream, SHARD0) == []
    assert stream.end_of_shard(SHARD0) == seq(4)
    stream.close()


def test_a_call_that_fails_part_way_leaves_nothing(stream: LocalStream, clock: Clock) -> None:
    stream.put_records([("AMZN", b"z0")])
    # The second block of the call (shard 1) fails after the first (shard 0) was written.
    stream._db.execute(
        f"CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.records WHEN NEW.shard_id = '{SHARD1}' "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        stream.put_records([("NVDA", b"n0"), ("AAPL", b"a0")])
    stream._db.execute("DROP TRIGGER refuse")
    assert [r.data for r in read(stream, SHARD0)] == [b"z0"]
    assert stream.end_of_shard(SHARD0) == seq(1)
    [after] = stream.put_records([("AAPL", b"a1")])
    assert after.sequence_number == seq(2)


# The layout before blocks (one row per record), as the stream created it until issue 21.
OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE shards (shard_id TEXT PRIMARY KEY, start_hash TEXT NOT NULL, end_hash TEXT NOT NULL);
CREATE TABLE records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    shard_id TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    data BLOB NOT NULL,
    arrival_ms INTEGER NOT NULL
);
CREATE INDEX records_by_shard ON records (shard_id, seq);
CREATE INDEX records_by_arrival ON records (arrival_ms);
"""


def make_old_database(path: Path) -> None:
    """Two shards and five records, written as the one-row-per-record code wrote them."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(OLD_SCHEMA)
    for i, (start, end) in enumerate(even_hash_ranges(2)):
        db.execute(
            "INSERT INTO shards VALUES (?, ?, ?)", (f"shardId-{i:012d}", str(start), str(end))
        )
    db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('records', ?)", (S,))
    db.execute("INSERT INTO meta VALUES ('stream_id', 'old-stream'), ('created_at', '2023-11-14')")
    for shard, key, data, arrival in [
        (SHARD1, "AAPL", b"a0", T0_MS),
        (SHARD0, "AMZN", b"z0", T0_MS),
        (SHARD1, "MSFT", b"m0", T0_MS),
        (SHARD1, "AAPL", b"a1", T0_MS + 1_000),
        (SHARD0, "NVDA", "ü".encode(), T0_MS + 1_000),
    ]:
        db.execute(
            "INSERT INTO records (shard_id, partition_key, data, arrival_ms) VALUES (?, ?, ?, ?)",
            (shard, key, data, arrival),
        )
    db.close()


def test_a_one_row_per_record_database_is_converted_on_open(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "stream.db"
    make_old_database(path)
    clock.ms = T0_MS + 2_000
    stream = LocalStream(path, shard_count=2, clock_ms=clock)
    assert stream.identity()["stream_id"] == "old-stream"
    assert [(r.sequence_number, r.partition_key, r.data) for r in read(stream, SHARD1)] == [
        (seq(1), "AAPL", b"a0"),
        (seq(3), "MSFT", b"m0"),
        (seq(4), "AAPL", b"a1"),
    ]
    zero = read(stream, SHARD0)
    assert [(r.sequence_number, r.data) for r in zero] == [(seq(2), b"z0"), (seq(5), "ü".encode())]
    assert [r.arrival_ts for r in zero] == [
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        datetime(2023, 11, 14, 22, 13, 21, tzinfo=UTC),
    ]
    # A checkpoint taken on the old layout resumes exactly where it stopped.
    after = read(stream, SHARD1, "AFTER_SEQUENCE_NUMBER", sequence_number=seq(1))
    assert [r.data for r in after] == [b"m0", b"a1"]
    assert stream.pending(SHARD1, seq(3)) == 1
    assert stream.end_of_shard(SHARD1) == seq(5)
    # New calls continue the numbering and are read after the converted records.
    put = stream.put_records([("AAPL", b"a2"), ("AMZN", b"z1")])
    assert [r.sequence_number for r in put] == [seq(6), seq(7)]
    assert [r.data for r in read(stream, SHARD1)] == [b"a0", b"m0", b"a1", b"a2"]
    stream.close()
    # Opening again finds the new layout and changes nothing.
    again = LocalStream(path, shard_count=2, clock_ms=clock)
    columns = {row[1] for row in again._db.execute("PRAGMA table_info(records)")}
    assert "partition_key" not in columns and "partition_keys" in columns
    assert [r.sequence_number for r in read(again, SHARD0)] == [seq(2), seq(5), seq(7)]
    assert again.end_of_shard(SHARD0) == seq(7)
    again.close()


def test_an_empty_old_database_keeps_its_counter(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "stream.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(OLD_SCHEMA)
    for i, (start, end) in enumerate(even_hash_ranges(2)):
        db.execute(
            "INSERT INTO shards VALUES (?, ?, ?)", (f"shardId-{i:012d}", str(start), str(end))
        )
    db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('records', ?)", (S + 41,))
    db.close()
    stream = LocalStream(path, shard_count=2, clock_ms=clock)
    assert stream.end_of_shard(SHARD0) == seq(41)
    assert [r.sequence_number for r in stream.put_records([("AAPL", b"a0")])] == [seq(42)]
    stream.close()


def _put_forever(path: str, progress: str) -> None:
    """Calls of 500 records over 4 shards; record i (over all calls) holds b"i"."""
    stream = LocalStream(path, shard_count=4)
    done = 0
    while True:
        stream.put_records([(f"K{i % 37}", str(done + i).encode()) for i in range(500)])
        done += 500
        Path(progress).write_text(str(done))


@pytest.mark.integration
def test_a_producer_killed_mid_put_leaves_whole_calls_only(tmp_path: Path) -> None:
    path, progress = tmp_path / "stream.db", tmp_path / "progress"
    LocalStream(path, shard_count=4).close()
    proc = mp.get_context("spawn").Process(target=_put_forever, args=(str(path), str(progress)))
    proc.start()
    deadline = time.monotonic() + 60
    while not (progress.is_file() and int(progress.read_text() or 0) >= 5_000):
        assert time.monotonic() < deadline and proc.is_alive()
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # most likely inside a put: they run back to back
    proc.join()
    stream = LocalStream(path, shard_count=4)
    got = [r for s in stream.list_shards() for r in read(stream, s.shard_id, limit=10_000)]
    assert len(got) % 500 == 0 and len(got) >= 5_000
    first = min(int(r.sequence_number) for r in got)
    # Every record of every whole call, numbered without gaps, each with its own data.
    assert sorted(int(r.sequence_number) - first for r in got) == list(range(len(got)))
    assert all(int(r.data) == int(r.sequence_number) - first for r in got)
    assert stream.end_of_shard(SHARD0) == f"{first + len(got) - 1:020d}"
    stream.close()
