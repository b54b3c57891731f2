"""KinesisStream and the Consumer against botocore's Stubber: the failure modes moto
does not emulate (partial PutRecords failures, throttling, expired iterators, split and
merge lineage). moto 5.2 keeps routing PutRecords to a shard it closed by SplitShard,
so split and merge are only provable here."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import pytest
from botocore.stub import ANY, Stubber

from stockpipe.aws.retry import Backoff
from stockpipe.aws.session import client
from stockpipe.errors import StreamBusyError, StreamError, StreamLimitError
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.local import LocalLake
from stockpipe.stream.base import MAX_RECORD_BYTES
from stockpipe.stream.consumer import Consumer
from stockpipe.stream.kinesis import KinesisStream

STREAM = "bars-test"
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


class RecordingMetrics:
    def __init__(self) -> None:
        self.puts: list[tuple[str, float, str]] = []

    def put(self, name, value, unit="Count", *, stage, stream=None):  # noqa: ANN001
        self.puts.append((name, value, stage))

    def flush(self) -> None:
        pass


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def stubbed(sleeps: list[float]):
    kinesis = client("kinesis", "us-east-1")
    metrics = RecordingMetrics()
    stream = KinesisStream(
        kinesis,
        STREAM,
        metrics=metrics,
        backoff=Backoff(max_attempts=4, sleep=sleeps.append, rng=random.Random(7)),
        sleep=sleeps.append,
    )
    with Stubber(kinesis) as stubber:
        yield stream, stubber, metrics
        stubber.assert_no_pending_responses()


def _ok(shard: str, seq: str) -> dict:
    return {"ShardId": shard, "SequenceNumber": seq}


def _err(code: str = "ProvisionedThroughputExceededException") -> dict:
    return {"ErrorCode": code, "ErrorMessage": "Rate exceeded for shard shardId-000000000001"}


def _req(entries: list[tuple[str, bytes]]) -> dict:
    return {
        "StreamName": STREAM,
        "Records": [{"PartitionKey": k, "Data": d} for k, d in entries],
    }


def test_partial_failure_resends_only_failed_entries(stubbed, sleeps):
    stream, stubber, metrics = stubbed
    entries = [("AAPL", b"a1"), ("MSFT", b"m1"), ("AAPL", b"a2"), ("TSLA", b"t1")]
    # Call 1: entries 1 and 3 fail; call 2 must carry exactly those two, and entry 3
    # fails again (internal failure); call 3 carries entry 3 alone.
    stubber.add_response(
        "put_records",
        {
            "FailedRecordCount": 2,
            "Records": [_ok("s0", "100"), _err(), _ok("s0", "101"), _err()],
        },
        _req(entries),
    )
    stubber.add_response(
        "put_records",
        {"FailedRecordCount": 1, "Records": [_ok("s1", "200"), _err("InternalFailure")]},
        _req([entries[1], entries[3]]),
    )
    stubber.add_response("put_records", {"Records": [_ok("s1", "201")]}, _req([entries[3]]))

    results = stream.put_records(entries)

    # One result per entry, in the caller's order, each from the call that accepted it.
    assert [(r.shard_id, r.sequence_number) for r in results] == [
        ("s0", "100"),
        ("s1", "200"),
        ("s0", "101"),
        ("s1", "201"),
    ]
    # Every record was accepted exactly once: no loss, no duplicate.
    accepted = Counter(r.sequence_number for r in results)
    assert len(accepted) == 4 and set(accepted.values()) == {1}
    assert stream.retried_records == 3
    assert metrics.puts == [("PutRecordsRetries", 2, "ingest"), ("PutRecordsRetries", 1, "ingest")]
    # Backoff with jitter inside its exponential cap (0.1 * 2**n) after each failed call;
    # the throttled call also set a pre-call delay (0.05), halved after a call that was
    # not throttled (0.025).
    backoff1, throttle1, backoff2, throttle2 = sleeps
    assert 0 <= backoff1 <= 0.1 and 0 <= backoff2 <= 0.2
    assert (throttle1, throttle2) == (0.05, 0.025)


def test_throttled_call_slows_producer_down_then_succeeds(stubbed, sleeps):
    stream, stubber, _ = stubbed
    entries = [("AAPL", b"x")]
    for _ in range(2):
        stubber.add_client_error(
            "put_records",
            service_error_code="ProvisionedThroughputExceededException",
            service_message="Rate exceeded",
            http_status_code=400,
            expected_params=_req(entries),
        )
    stubber.add_response("put_records", {"Records": [_ok("s0", "7")]}, _req(entries))

    results = stream.put_records(entries)

    assert [r.sequence_number for r in results] == ["7"]
    # Throttling raised the persistent pre-call delay (0.05 then 0.1) and the success
    # halved it: the producer slows down instead of dropping data.
    assert 0.05 in sleeps and 0.1 in sleeps
    assert stream.throttle_delay == pytest.approx(0.05)


def test_throttling_beyond_the_attempt_cap_fails_loudly(stubbed):
    stream, stubber, _ = stubbed
    for _ in range(4):
        stubber.add_response(
            "put_records", {"FailedRecordCount": 1, "Records": [_err()]}, _req([("AAPL", b"x")])
        )
    with pytest.raises(StreamBusyError, match=r"1 of 1 records still failed after 4 attempts"):
        stream.put_records([("AAPL", b"x")])


def test_put_is_split_into_calls_within_limits(stubbed):
    stream, stubber, _ = stubbed
    entries = [(f"K{i}", b"v") for i in range(501)]
    stubber.add_response(
        "put_records",
        {"Records": [_ok("s0", str(i)) for i in range(500)]},
        _req(entries[:500]),
    )
    stubber.add_response("put_records", {"Records": [_ok("s0", "500")]}, _req(entries[500:]))
    assert [r.sequence_number for r in stream.put_records(entries)] == [str(i) for i in range(501)]


def test_oversized_record_is_refused_before_any_call(stubbed):
    stream, _, _ = stubbed
    with pytest.raises(StreamLimitError, match="1 MiB"):
        stream.put_records([("AAPL", b"x" * MAX_RECORD_BYTES)])


def test_missing_stream_names_the_fix(stubbed):
    stream, stubber, _ = stubbed
    stubber.add_client_error("list_shards", service_error_code="ResourceNotFoundException")
    with pytest.raises(StreamError, match="stockpipe stream create"):
        stream.list_shards()


# -- consumer side ------------------------------------------------------------------


def _shard(sid, parent=None, adjacent=None, closed_at=None, start="0", end="100"):  # noqa: ANN001
    s = {
        "ShardId": sid,
        "HashKeyRange": {"StartingHashKey": start, "EndingHashKey": end},
        "SequenceNumberRange": {"StartingSequenceNumber": "1"},
    }
    if parent:
        s["ParentShardId"] = parent
    if adjacent:
        s["AdjacentParentShardId"] = adjacent
    if closed_at:
        s["SequenceNumberRange"]["EndingSequenceNumber"] = closed_at
    return s


def _rec(seq: str, key: str = "AAPL") -> dict:
    return {
        "SequenceNumber": seq,
        "PartitionKey": key,
        "Data": f"payload-{seq}".encode(),
        "ApproximateArrivalTimestamp": T0,
    }


def _iter(stubber, shard, kind, it, seq=None):  # noqa: ANN001
    params = {"StreamName": STREAM, "ShardId": shard, "ShardIteratorType": kind}
    if seq:
        params["StartingSequenceNumber"] = seq
    stubber.add_response("get_shard_iterator", {"ShardIterator": it}, params)


def _get(stubber, it, records, next_it, behind=0):  # noqa: ANN001
    reply = {"Records": records, "MillisBehindLatest": behind}
    if next_it:
        reply["NextShardIterator"] = next_it
    stubber.add_response("get_records", reply, {"ShardIterator": it, "Limit": ANY})


def _consumer(stream, tmp_path) -> Consumer:  # noqa: ANN001
    # These tests script the lineage calls; the identity check (DescribeStreamSummary) has
    # its own tests in tests/stream/test_checkpoint_identity.py.
    stream.identity = lambda: {"kind": "kinesis", "arn": STREAM, "created_at": "stub"}
    consumer = Consumer(stream, LakeCheckpointStore(LocalLake(tmp_path / "lake")), "process")
    consumer._sleep = lambda s: None  # pacing is tested separately
    return consumer


def test_split_and_merge_read_parents_before_children(stubbed, tmp_path):
    stream, stubber, _ = stubbed
    stream.min_poll_interval = 0.0  # each shard is polled once here; no pacing needed
    # Lineage: s0 split into s1 + s2; s1 and s2 merged into s3. ListShards is paginated.
    page1 = [_shard("s0", closed_at="30"), _shard("s1", parent="s0", closed_at="60")]
    page2 = [
        _shard("s2", parent="s0", closed_at="70", start="50"),
        _shard("s3", parent="s1", adjacent="s2"),
    ]

    def list_shards() -> None:
        stubber.add_response(
            "list_shards", {"Shards": page1, "NextToken": "tok"}, {"StreamName": STREAM}
        )
        stubber.add_response("list_shards", {"Shards": page2}, {"NextToken": "tok"})

    list_shards()
    _iter(stubber, "s0", "TRIM_HORIZON", "it-s0")
    _get(stubber, "it-s0", [_rec("10"), _rec("30")], None)  # closed: read to its end
    list_shards()  # the consumer looks for the children at once
    _iter(stubber, "s1", "TRIM_HORIZON", "it-s1")
    _get(stubber, "it-s1", [_rec("40")], None)
    _iter(stubber, "s2", "TRIM_HORIZON", "it-s2")
    _get(stubber, "it-s2", [_rec("50", "MSFT"), _rec("70", "MSFT")], None)
    list_shards()
    _iter(stubber, "s3", "TRIM_HORIZON", "it-s3")
    _get(stubber, "it-s3", [_rec("80")], "it-s3-b")

    consumer = _consumer(stream, tmp_path)
    batches = [consumer.poll(), consumer.poll(), consumer.poll()]

    assert [[(r.shard_id, r.sequence_number) for r in b.records] for b in batches] == [
        [("s0", "10"), ("s0", "30")],
        [("s1", "40"), ("s2", "50"), ("s2", "70")],
        [("s3", "80")],
    ]
    assert [b.finished for b in batches] == [["s0"], ["s1", "s2"], []]
    for b in batches:
        consumer.commit(b)
    assert consumer.checkpoint.finished == ["s0", "s1", "s2"]
    assert consumer.checkpoint.shards == {"s0": "30", "s1": "40", "s2": "70", "s3": "80"}


def test_merge_child_waits_for_both_parents(stubbed, tmp_path):
    stream, stubber, _ = stubbed
    stream.min_poll_interval = 0.0
    shards = [
        _shard("s1", closed_at="20"),
        _shard("s2", closed_at="90", start="50"),
        _shard("s3", parent="s1", adjacent="s2"),
    ]
    stubber.add_response("list_shards", {"Shards": shards}, {"StreamName": STREAM})
    _iter(stubber, "s1", "TRIM_HORIZON", "it-s1")
    _get(stubber, "it-s1", [_rec("20")], None)
    _iter(stubber, "s2", "TRIM_HORIZON", "it-s2")
    _get(stubber, "it-s2", [_rec("85")], "it-s2-b", behind=5000)  # s2 still has data
    stubber.add_response("list_shards", {"Shards": shards}, {"StreamName": STREAM})
    _get(stubber, "it-s2-b", [_rec("90")], None)  # s3 is not read: s2 is not finished yet
    stubber.add_response("list_shards", {"Shards": shards}, {"StreamName": STREAM})
    _iter(stubber, "s3", "TRIM_HORIZON", "it-s3")
    _get(stubber, "it-s3", [_rec("95")], "it-s3-b")

    consumer = _consumer(stream, tmp_path)
    first = consumer.poll()
    assert consumer.millis_behind == 5000  # the largest MillisBehindLatest of the shards
    second, third = consumer.poll(), consumer.poll()

    assert [r.sequence_number for r in first.records] == ["20", "85"]
    assert [r.sequence_number for r in second.records] == ["90"]
    assert [r.sequence_number for r in third.records] == ["95"]
    assert third.records[0].shard_id == "s3"


def test_expired_iterator_resumes_after_last_record_read(stubbed, tmp_path):
    stream, stubber, _ = stubbed
    stream.min_poll_interval = 0.0
    stubber.add_response("list_shards", {"Shards": [_shard("s0")]}, {"StreamName": STREAM})
    _iter(stubber, "s0", "TRIM_HORIZON", "it-1")
    _get(stubber, "it-1", [_rec("1"), _rec("2")], "it-2", behind=1200)
    stubber.add_client_error(
        "get_records",
        service_error_code="ExpiredIteratorException",
        service_message="Iterator expired",
        http_status_code=400,
        expected_params={"ShardIterator": "it-2", "Limit": ANY},
    )
    _iter(stubber, "s0", "AFTER_SEQUENCE_NUMBER", "it-3", seq="2")
    _get(stubber, "it-3", [_rec("3")], "it-4")

    consumer = _consumer(stream, tmp_path)
    first = consumer.poll()
    assert consumer.millis_behind == 1200  # MillisBehindLatest is reported as lag
    consumer.commit(first)
    second = consumer.poll()

    seqs = [r.sequence_number for r in first.records + second.records]
    assert seqs == ["1", "2", "3"]  # nothing skipped, nothing read twice
    assert consumer.millis_behind == 0


def test_get_records_throttling_is_retried(stubbed, sleeps, tmp_path):
    stream, stubber, _ = stubbed
    stubber.add_response("get_shard_iterator", {"ShardIterator": "it-1"})
    stubber.add_client_error(
        "get_records", service_error_code="ProvisionedThroughputExceededException"
    )
    _get(stubber, "it-1", [_rec("5")], "it-2")
    it = stream.get_shard_iterator("s0", "TRIM_HORIZON")
    result = stream.get_records(it)
    assert [r.sequence_number for r in result.records] == ["5"]
    assert result.records[0].arrival_ts == T0 and result.next_iterator == "it-2"
    assert len(sleeps) == 1


def test_closed_shard_yields_no_next_iterator(stubbed):
    stream, stubber, _ = stubbed
    stubber.add_response("get_shard_iterator", {"ShardIterator": "it-1"})
    _get(stubber, "it-1", [], None)
    result = stream.get_records(stream.get_shard_iterator("s0", "TRIM_HORIZON"))
    assert result.next_iterator is None and result.records == []


class _FakeStream(KinesisStream):
    def __init__(self) -> None:
        super().__init__(None, "fake")
        self.calls = 0

    def identity(self):  # noqa: ANN201
        return {"kind": "kinesis", "arn": "fake", "created_at": "stub"}

    def list_shards(self):  # noqa: ANN201
        from stockpipe.stream.base import ShardInfo

        return [ShardInfo("s0", 0, 10)]

    def get_shard_iterator(self, *a, **k):  # noqa: ANN002, ANN003, ANN201
        return "it"

    def get_records(self, iterator, limit=10000):  # noqa: ANN001, ANN201
        from stockpipe.stream.base import GetRecordsResult

        self.calls += 1
        return GetRecordsResult([], "it", 0)


def test_empty_shard_gets_a_polite_sleep(tmp_path):
    stream = _FakeStream()
    consumer = Consumer(stream, LakeCheckpointStore(LocalLake(tmp_path / "lake")), "archive")
    requested: list[float] = []
    consumer._sleep = requested.append
    consumer.poll()
    assert requested == []  # the first poll goes straight out
    consumer.poll()
    # After an empty poll the consumer sleeps (about) the idle interval before the next
    # GetRecords, instead of spinning: at most ~1 call per second on an idle shard.
    assert len(requested) == 1 and 0.5 < requested[0] <= stream.idle_poll_interval
    assert stream.min_poll_interval == 0.2
