"""The embedded stream reads a batch in one SQLite query, with Kinesis's answers unchanged:
records, next iterator, millis_behind_latest and arrival times (issue 21 item 4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from stream_support import T0_MS, Clock

from stockpipe.stream.local import LocalStream


@pytest.fixture
def clock() -> Clock:
    return Clock(T0_MS)


@pytest.fixture
def stream(tmp_path, clock):  # type: ignore[no-untyped-def]
    s = LocalStream(tmp_path / "stream.db", shard_count=1, clock_ms=clock)
    yield s
    s.close()


def _record_selects(stream: LocalStream) -> list[str]:
    """Every statement that reads the records table, as SQLite runs it."""
    seen: list[str] = []
    stream._db.set_trace_callback(
        lambda sql: seen.append(sql) if "FROM records" in sql and "SELECT" in sql else None
    )
    return seen


def test_one_query_per_get_records_and_behind_only_when_more_remain(
    stream: LocalStream, clock: Clock
) -> None:
    shard = stream.list_shards()[0].shard_id
    stream.put_records([("AAPL", f"a{i}".encode()) for i in range(3)])  # arrive at T0
    clock.ms = T0_MS + 1_000
    stream.put_records([("AAPL", f"b{i}".encode()) for i in range(2)])  # arrive at T0 + 1 s
    clock.ms = T0_MS + 5_000
    it = stream.get_shard_iterator(shard, "TRIM_HORIZON")
    selects = _record_selects(stream)

    first = stream.get_records(it, limit=3)
    assert [r.data for r in first.records] == [b"a0", b"a1", b"a2"]
    assert len(selects) == 1
    # Two records lie beyond the batch; its last record arrived 5 s before "now".
    assert first.millis_behind_latest == 5_000

    second = stream.get_records(first.next_iterator, limit=2)
    assert [r.data for r in second.records] == [b"b0", b"b1"]
    assert len(selects) == 2
    # The batch ends exactly at the end of the shard (limit == what was left): caught up.
    assert second.millis_behind_latest == 0

    third = stream.get_records(second.next_iterator, limit=10)
    assert third.records == [] and third.millis_behind_latest == 0
    assert len(selects) == 3
    # An empty read keeps the position: a later record is still found from there.
    stream.put_records([("AAPL", b"c0")])
    assert [r.data for r in stream.get_records(third.next_iterator).records] == [b"c0"]


def test_arrival_times_and_sequence_numbers_per_record(stream: LocalStream, clock: Clock) -> None:
    shard = stream.list_shards()[0].shard_id
    put_a = stream.put_records([("MSFT", b"x"), ("MSFT", b"y")])
    clock.ms = T0_MS + 250
    put_b = stream.put_records([("MSFT", b"z")])
    got = stream.get_records(stream.get_shard_iterator(shard, "TRIM_HORIZON")).records
    assert [r.sequence_number for r in got] == [p.sequence_number for p in (*put_a, *put_b)]
    assert [r.arrival_ts for r in got] == [
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        datetime(2023, 11, 14, 22, 13, 20, 250_000, tzinfo=UTC),
    ]
    assert all(isinstance(r.data, bytes) for r in got)
    assert [r.partition_key for r in got] == ["MSFT"] * 3


def test_the_10_mib_cap_still_ends_a_batch_and_reports_the_rest_as_behind(
    stream: LocalStream, clock: Clock
) -> None:
    shard = stream.list_shards()[0].shard_id
    blob = b"p" * 1_000_000  # the put limit is 1 MiB per record: 11 records exceed 10 MiB
    for i in range(11):
        stream.put_records([("BIG", blob[:-2] + f"{i:02d}".encode())])
    clock.ms = T0_MS + 2_000
    res = stream.get_records(stream.get_shard_iterator(shard, "TRIM_HORIZON"))
    # 10 x 1,000,000 bytes fit in 10 MiB (10,485,760); the 11th would not.
    assert len(res.records) == 10
    assert res.records[-1].data.endswith(b"09")
    assert res.millis_behind_latest == 2_000
    rest = stream.get_records(res.next_iterator)
    assert [r.data[-2:] for r in rest.records] == [b"10"]
    assert rest.millis_behind_latest == 0
