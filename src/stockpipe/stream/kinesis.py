"""Kinesis Data Streams through boto3, behind the same `Stream` contract as LocalStream.

Producer: PutRecords in batches within the limits (500 records, 5 MiB per call, 1 MiB
per record); only the failed entries of a partial failure are sent again, with capped
exponential backoff and full jitter; throttling also raises a delay that persists
across calls, so a throttled producer slows down instead of dropping data.
Consumer primitives: ListShards (paginated), GetShardIterator, GetRecords. Lineage,
checkpoints and expired-iterator recovery live in the generic `Consumer`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from stockpipe.aws.retry import Backoff, error_code, is_retryable, is_throttling, with_backoff
from stockpipe.errors import (
    ExpiredIteratorError,
    StreamBusyError,
    StreamError,
    StreamLimitError,
)
from stockpipe.stream.base import (
    MAX_PARTITION_KEY_LEN,
    MAX_RECORD_BYTES,
    GetRecordsResult,
    PutResult,
    ShardInfo,
    Stream,
    StreamDescription,
    StreamRecord,
    batched_puts,
    check_iterator_request,
)

if TYPE_CHECKING:
    from stockpipe.config import Settings
    from stockpipe.metrics.base import Metrics

# Kinesis allows 5 GetRecords calls per second per shard.
MIN_POLL_INTERVAL = 0.2
# An empty, caught-up shard is polled about once a second (the KCL's idle default).
IDLE_POLL_INTERVAL = 1.0
MAX_GET_LIMIT = 10000
_MAX_TRACKED_ITERATORS = 4096


class KinesisStream(Stream):
    min_poll_interval = MIN_POLL_INTERVAL
    idle_poll_interval = IDLE_POLL_INTERVAL

    def __init__(
        self,
        client: Any,
        name: str,
        metrics: Metrics | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        metrics_stage: str = "ingest",
    ) -> None:
        self.client = client
        self.name = name
        self.metrics = metrics
        self.metrics_stage = metrics_stage
        self.backoff = backoff or Backoff(sleep=sleep)
        self._sleep = sleep
        # Extra pause before each PutRecords, raised by throttling and decayed by success.
        self.throttle_delay = 0.0
        self.retried_records = 0
        # GetRecords replies do not name the shard and iterators are opaque: remember it.
        self._iterator_shard: OrderedDict[str, str] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics | None = None) -> KinesisStream:
        from stockpipe.aws.session import client
        from stockpipe.metrics import get_metrics

        return cls(
            client("kinesis", settings.aws_region),
            settings.kinesis_stream_name,
            metrics=metrics if metrics is not None else get_metrics(settings),
        )

    # -- errors --------------------------------------------------------------

    def _fail(self, exc: Exception, operation: str) -> StreamError:
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            return StreamError(
                f"Kinesis stream {self.name!r} does not exist ({operation}); create it with "
                "`stockpipe stream create` or set KINESIS_STREAM_NAME"
            )
        if code in ("AccessDeniedException", "UnrecognizedClientException"):
            return StreamError(
                f"{operation} on Kinesis stream {self.name!r} was denied ({code}); check the "
                "AWS credentials and the IAM policy in docs/aws.md"
            )
        if code is not None and is_throttling(exc):
            return StreamBusyError(
                f"{operation} on {self.name!r} stayed throttled after "
                f"{self.backoff.max_attempts} attempts ({code}); add shards or slow the producer"
            )
        return StreamError(f"{operation} on Kinesis stream {self.name!r} failed: {exc}")

    def _call(self, operation: str, fn: Callable[[], Any]) -> Any:
        try:
            return with_backoff(fn, operation, self.backoff)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, operation) from exc

    # -- producer ------------------------------------------------------------

    def put_records(self, entries: Sequence[tuple[str, bytes]]) -> list[PutResult]:
        for i, (key, data) in enumerate(entries):
            if not isinstance(key, str) or not 1 <= len(key) <= MAX_PARTITION_KEY_LEN:
                raise StreamLimitError(
                    f"record {i}: partition key must be 1-{MAX_PARTITION_KEY_LEN} characters"
                )
            if len(data) + len(key.encode("utf-8")) > MAX_RECORD_BYTES:
                raise StreamLimitError(
                    f"record {i} is {len(data) + len(key.encode())} bytes; Kinesis accepts at "
                    f"most {MAX_RECORD_BYTES} (1 MiB) per record: split the payload"
                )
        results: list[PutResult] = []
        for call in batched_puts(entries):
            results.extend(self._put_call(call))
        return results

    def _put_call(self, entries: list[tuple[str, bytes]]) -> list[PutResult]:
        out: list[PutResult | None] = [None] * len(entries)
        pending = list(range(len(entries)))
        for attempt in range(self.backoff.max_attempts):
            if self.throttle_delay > 0:
                self._sleep(self.throttle_delay)
            request = [{"PartitionKey": entries[i][0], "Data": entries[i][1]} for i in pending]
            try:
                reply = self.client.put_records(StreamName=self.name, Records=request)
            except (ClientError, BotoCoreError) as exc:
                # The whole call failed (e.g. throttled): every pending entry goes again.
                if not is_retryable(exc):
                    raise self._fail(exc, "PutRecords") from exc
                failed, throttled, last_error = pending, is_throttling(exc), str(exc)
            else:
                failed, throttled, last_error = [], False, ""
                for i, rec in zip(pending, reply["Records"], strict=True):
                    if rec.get("ErrorCode"):
                        failed.append(i)
                        throttled |= rec["ErrorCode"] == "ProvisionedThroughputExceededException"
                        last_error = f"{rec['ErrorCode']}: {rec.get('ErrorMessage', '')}"
                    else:
                        out[i] = PutResult(rec["ShardId"], rec["SequenceNumber"])
            self._adjust_throttle(throttled)
            if not failed:
                return [r for r in out if r is not None]
            if attempt == self.backoff.max_attempts - 1:
                raise StreamBusyError(
                    f"PutRecords to {self.name!r}: {len(failed)} of {len(entries)} records still "
                    f"failed after {self.backoff.max_attempts} attempts ({last_error}); "
                    "nothing was acknowledged for them, so re-run the producer or add shards"
                )
            self.retried_records += len(failed)
            if self.metrics is not None:
                self.metrics.put("PutRecordsRetries", len(failed), stage=self.metrics_stage)
            pending = failed
            self.backoff.pause(attempt)
        raise AssertionError("unreachable")

    def _adjust_throttle(self, throttled: bool) -> None:
        # Multiplicative increase on throttling, decay on success: the producer settles
        # near the rate the shards accept.
        if throttled:
            self.throttle_delay = min(2.0, max(0.05, self.throttle_delay * 2))
        elif self.throttle_delay > 0:
            self.throttle_delay = 0.0 if self.throttle_delay < 0.02 else self.throttle_delay / 2

    # -- consumer primitives -------------------------------------------------

    def identity(self) -> dict[str, str]:
        """The stream ARN and creation time: a stream deleted and created again under the
        same name keeps its ARN but not its creation time (DescribeStreamSummary)."""
        reply = self._call(
            "DescribeStreamSummary",
            lambda: self.client.describe_stream_summary(StreamName=self.name),
        )
        summary = reply["StreamDescriptionSummary"]
        created = summary.get("StreamCreationTimestamp")
        return {
            "kind": "kinesis",
            "arn": str(summary["StreamARN"]),
            "created_at": _utc(created).isoformat() if created else "",
        }

    def describe(self) -> StreamDescription:
        """DescribeStreamSummary plus ListShards; Kinesis cannot count the records held."""
        reply = self._call(
            "DescribeStreamSummary",
            lambda: self.client.describe_stream_summary(StreamName=self.name),
        )
        summary = reply["StreamDescriptionSummary"]
        return StreamDescription(
            name=str(summary["StreamName"]),
            kind="kinesis",
            status=str(summary["StreamStatus"]),
            mode=str(summary.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")),
            retention_hours=float(summary.get("RetentionPeriodHours", 24)),
            shards=tuple(self.list_shards()),
        )

    def list_shards(self) -> list[ShardInfo]:
        shards: list[ShardInfo] = []
        token: str | None = None
        while True:
            # ListShards rejects StreamName together with NextToken.
            kwargs = {"NextToken": token} if token else {"StreamName": self.name}
            reply = self._call("ListShards", partial(self.client.list_shards, **kwargs))
            for s in reply.get("Shards", []):
                shards.append(
                    ShardInfo(
                        shard_id=s["ShardId"],
                        starting_hash_key=int(s["HashKeyRange"]["StartingHashKey"]),
                        ending_hash_key=int(s["HashKeyRange"]["EndingHashKey"]),
                        parent_shard_id=s.get("ParentShardId"),
                        adjacent_parent_shard_id=s.get("AdjacentParentShardId"),
                        ending_sequence_number=s.get("SequenceNumberRange", {}).get(
                            "EndingSequenceNumber"
                        ),
                    )
                )
            token = reply.get("NextToken")
            if not token:
                return shards

    def get_shard_iterator(
        self,
        shard_id: str,
        iterator_type: str,
        sequence_number: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        check_iterator_request(iterator_type, sequence_number, timestamp)
        kwargs: dict[str, Any] = {
            "StreamName": self.name,
            "ShardId": shard_id,
            "ShardIteratorType": iterator_type,
        }
        if iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            kwargs["StartingSequenceNumber"] = sequence_number
        elif iterator_type == "AT_TIMESTAMP":
            kwargs["Timestamp"] = timestamp
        reply = self._call("GetShardIterator", lambda: self.client.get_shard_iterator(**kwargs))
        iterator = str(reply["ShardIterator"])
        self._remember(iterator, shard_id)
        return iterator

    def _remember(self, iterator: str, shard_id: str) -> None:
        self._iterator_shard[iterator] = shard_id
        # Abandoned iterators (expired, or a consumer restarted) must not pile up.
        while len(self._iterator_shard) > _MAX_TRACKED_ITERATORS:
            self._iterator_shard.popitem(last=False)

    def get_records(self, iterator: str, limit: int = MAX_GET_LIMIT) -> GetRecordsResult:
        limit = max(1, min(limit, MAX_GET_LIMIT))
        try:
            reply = with_backoff(
                lambda: self.client.get_records(ShardIterator=iterator, Limit=limit),
                "GetRecords",
                self.backoff,
            )
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) == "ExpiredIteratorException":
                raise ExpiredIteratorError(
                    f"shard iterator of {self.name!r} expired (they live five minutes); "
                    "get a fresh one from the last sequence number read"
                ) from exc
            raise self._fail(exc, "GetRecords") from exc
        shard_id = self._iterator_shard.pop(iterator, None)
        if shard_id is None:
            raise StreamError(
                "GetRecords got an iterator this KinesisStream did not issue; obtain iterators "
                "with get_shard_iterator on the same instance"
            )
        if reply.get("NextShardIterator"):
            self._remember(reply["NextShardIterator"], shard_id)
        records = [
            StreamRecord(
                shard_id=shard_id,
                sequence_number=r["SequenceNumber"],
                partition_key=r["PartitionKey"],
                data=bytes(r["Data"]),
                arrival_ts=_utc(r.get("ApproximateArrivalTimestamp")),
            )
            for r in reply.get("Records", [])
        ]
        return GetRecordsResult(
            records=records,
            next_iterator=reply.get("NextShardIterator") or None,
            millis_behind_latest=int(reply.get("MillisBehindLatest") or 0),
        )

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.flush()


def _utc(ts: datetime | None) -> datetime:
    if ts is None:
        return datetime.now(UTC)
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
