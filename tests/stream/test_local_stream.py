"""Kinesis semantics of the embedded stream: ordering, iterators, limits, retention."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stockpipe.config import load_settings
from stockpipe.errors import ExpiredIteratorError, StreamError, StreamLimitError
from stockpipe.stream import open_existing_stream, open_stream
from stockpipe.stream.local import LocalStream


class FakeClock:
    def __init__(self, ms: int = 1_700_000_000_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stream(tmp_path, clock):  # type: ignore[no-untyped-def]
    s = LocalStream(tmp_path / "stream.db", shard_count=4, clock_ms=clock)
    yield s
    s.close()


def read_all(stream: LocalStream, shard: str, iterator_type: str = "TRIM_HORIZON", **kw) -> list:
    it = stream.get_shard_iterator(shard, iterator_type, **kw)
    out = []
    while True:
        res = stream.get_records(it, limit=3)
        out.extend(res.records)
        if not res.records:
            return out
        it = res.next_iterator


def test_per_key_order_is_preserved_and_sequence_numbers_grow(stream: LocalStream) -> None:
    entries = [(f"K{i % 5}", f"{i}".encode()) for i in range(50)]
    results = stream.put_records(entries)
    by_shard: dict[str, list[int]] = {}
    for r in results:
        by_shard.setdefault(r.shard_id, []).append(int(r.sequence_number))
    for seqs in by_shard.values():
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for key in {k for k, _ in entries}:
        shard = stream.shard_for(key)
        got = [int(r.data) for r in read_all(stream, shard) if r.partition_key == key]
        assert got == [i for i in range(50) if f"K{i % 5}" == key]


def test_iterator_types(stream: LocalStream, clock: FakeClock) -> None:
    shard = stream.shard_for("AAPL")
    first = stream.put_records([("AAPL", b"a"), ("AAPL", b"b")])
    clock.ms += 10_000
    second = stream.put_records([("AAPL", b"c"), ("AAPL", b"d")])
    seqs = [r.sequence_number for r in first + second]

    assert [r.data for r in read_all(stream, shard)] == [b"a", b"b", b"c", b"d"]
    at = read_all(stream, shard, "AT_SEQUENCE_NUMBER", sequence_number=seqs[1])
    assert [r.data for r in at] == [b"b", b"c", b"d"]
    after = read_all(stream, shard, "AFTER_SEQUENCE_NUMBER", sequence_number=seqs[1])
    assert [r.data for r in after] == [b"c", b"d"]
    when = datetime.fromtimestamp(clock.ms / 1000, tz=UTC)
    assert [r.data for r in read_all(stream, shard, "AT_TIMESTAMP", timestamp=when)] == [
        b"c",
        b"d",
    ]
    latest = stream.get_shard_iterator(shard, "LATEST")
    assert stream.get_records(latest).records == []
    stream.put_records([("AAPL", b"e")])
    assert [r.data for r in stream.get_records(latest).records] == [b"e"]


def test_latest_on_an_empty_shard_sees_only_new_records(stream: LocalStream) -> None:
    stream.put_records([("MSFT", b"old")])
    shard = stream.shard_for("AMZN")  # shard 0: nothing written there yet
    assert shard != stream.shard_for("MSFT")
    it = stream.get_shard_iterator(shard, "LATEST")
    stream.put_records([("AMZN", b"new")])
    assert [r.data for r in stream.get_records(it).records] == [b"new"]


def test_records_carry_arrival_time(stream: LocalStream, clock: FakeClock) -> None:
    stream.put_records([("AAPL", b"x")])
    [rec] = read_all(stream, stream.shard_for("AAPL"))
    assert rec.arrival_ts == datetime.fromtimestamp(clock.ms / 1000, tz=UTC)


def test_iterators_expire_after_five_minutes(stream: LocalStream, clock: FakeClock) -> None:
    it = stream.get_shard_iterator(stream.shard_for("AAPL"), "TRIM_HORIZON")
    clock.ms += 5 * 60 * 1000 + 1
    with pytest.raises(ExpiredIteratorError):
        stream.get_records(it)


def test_retention_trims_old_records(tmp_path, clock: FakeClock) -> None:
    s = LocalStream(tmp_path / "r.db", retention_hours=1, clock_ms=clock)
    s.put_records([("AAPL", b"old")])
    clock.ms += 2 * 3600 * 1000
    s.put_records([("AAPL", b"new")])  # puts trim at most once a minute
    assert [r.data for r in read_all(s, s.shard_for("AAPL"))] == [b"new"]
    s.close()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "at least one record"),
        ([("k", b"x")] * 501, "501 records; the limit is 500"),
        ([("", b"x")], "partition key must be 1-256"),
        ([("k" * 257, b"x")], "partition key must be 1-256"),
        ([("k", b"x" * (1024 * 1024))], "limit is 1048576 (1 MiB) per record"),
        ([("k", b"x" * (1024 * 1000))] * 6, "limit is 5242880 (5 MiB) per call"),
    ],
    ids=["empty", "501-records", "empty-key", "long-key", "record-1MiB", "call-5MiB"],
)
def test_put_records_limits(stream: LocalStream, entries, message: str) -> None:
    with pytest.raises(StreamLimitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        stream.put_records(entries)


def test_unknown_iterator_type_and_shard_are_clear_errors(stream: LocalStream) -> None:
    with pytest.raises(StreamError, match="iterator type 'OLDEST' is unknown"):
        stream.get_shard_iterator("shardId-000000000000", "OLDEST")
    with pytest.raises(StreamError, match="no shard 'shardId-999'"):
        stream.get_shard_iterator("shardId-999", "LATEST")


def test_open_stream_follows_the_settings_and_open_existing_creates_nothing(tmp_path) -> None:
    settings = load_settings({"home": str(tmp_path / "home"), "shards": 3}).settings
    assert open_existing_stream(settings) is None
    assert not settings.stream_path.exists()
    stream = open_stream(settings)
    try:
        assert isinstance(stream, LocalStream) and stream.describe().open_shards == 3
    finally:
        stream.close()
    again = open_existing_stream(settings)
    assert isinstance(again, LocalStream)
    again.close()
