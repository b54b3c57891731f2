"""Structured Streaming: every micro-batch goes through `batch.process_envelopes`.

Sources, all turned into raw-zone envelopes (contract.RAW columns) first:
- `raw_file_stream`: a file source over raw-data/ (local tests, or S3 on EMR/Glue);
- `emr_kinesis_stream`: Kinesis through the awslabs connector, format `aws-kinesis`;
- `glue_kinesis_stream`: Kinesis through `glueContext.create_data_frame.from_options`;
  its batches are shaped into envelopes inside the batch (spark/glue.py).

The batch function is idempotent (a replayed micro-batch changes nothing), so Spark's
at-least-once foreachBatch plus the checkpoint location gives an exactly-once lake.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from stockpipe.contract import RAW
from stockpipe.lake import Lake
from stockpipe.lake.raw import envelope
from stockpipe.processing.base import BatchStats
from stockpipe.spark import glue, tasks
from stockpipe.spark.batch import RAW_DDL, process_envelopes
from stockpipe.spark.glue import KINESIS_SHARD
from stockpipe.stream.base import StreamRecord

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from stockpipe.metrics.stage import StageMetrics


def batch_writer(  # type: ignore[no-untyped-def]
    spark: SparkSession,
    location: str,
    metrics: StageMetrics | None = None,
    to_envelopes: Callable[[DataFrame, int], DataFrame] | None = None,
    region: str | None = None,
):
    """The foreachBatch function: one micro-batch of envelopes into the lake.

    `to_envelopes(frame, batch_id)` turns a source-specific batch into envelopes (Glue's
    frames, see spark/glue.py); by default the batch already has the envelope columns.
    With `metrics`, each batch emits the same StockPipe metrics as the `process` stage
    and flushes them once the batch is durable (the batch is the checkpoint).
    """

    def write(frame: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        if to_envelopes is not None:
            if frame.isEmpty():  # an idle window: nothing to shape
                if metrics is not None:
                    metrics.idle(0.0)
                return
            envelopes = to_envelopes(frame, batch_id)
        else:
            envelopes = frame.select(*tasks.ENVELOPE)
        # Evaluated once: a Kinesis batch is not read twice, synthetic ids stay stable.
        envelopes = envelopes.persist()
        try:
            stats = process_envelopes(spark, envelopes, location, region)
            newest = _newest_arrival(envelopes) if metrics is not None else None
        finally:
            envelopes.unpersist()
        if metrics is not None:
            emit_batch_metrics(metrics, stats, started, newest)

    return write


def _newest_arrival(envelopes: DataFrame) -> float | None:
    """Epoch seconds of the batch's newest arrival (None for an empty batch)."""
    from pyspark.sql import functions as F

    row = envelopes.agg(F.max(F.to_timestamp("arrival_ts").cast("double"))).first()
    return None if row is None or row[0] is None else float(row[0])


def emit_batch_metrics(
    metrics: StageMetrics, stats: BatchStats, started: float, newest: float | None
) -> None:
    """The `process` stage's metrics for one Spark batch, then a checkpoint flush.

    ProcessingLagMs is the age of the newest record at commit: what MillisBehindLatest
    approximates for the embedded consumer once a batch is caught up.
    """
    metrics("RecordsProcessed", stats.kept, "Count")
    metrics("RecordsQuarantined", stats.quarantined, "Count")
    metrics("DuplicatesDropped", stats.duplicates, "Count")
    metrics("BatchDurationMs", (time.monotonic() - started) * 1000, "Milliseconds")
    if newest is not None:
        lag = max(0.0, datetime.now(UTC).timestamp() - newest) * 1000
        metrics("ProcessingLagMs", lag, "Milliseconds")
    metrics.checkpoint()


def raw_file_stream(
    spark: SparkSession, raw: Lake, max_files_per_trigger: int | None = None
) -> DataFrame:
    """A streaming DataFrame of envelopes over raw-data/ (new .jsonl files only)."""
    reader = (
        spark.readStream.schema(RAW_DDL)
        .option("mode", "FAILFAST")
        .option("pathGlobFilter", "*.jsonl")
        .option("basePath", raw.uri(RAW.prefix))
    )
    if max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", str(max_files_per_trigger))
    return reader.json(raw.uri(RAW.prefix)).select(*tasks.ENVELOPE)


def start(
    spark: SparkSession,
    stream: DataFrame,
    location: str,
    checkpoint: str,
    available_now: bool = True,
    interval_seconds: int = 60,
    metrics: StageMetrics | None = None,
    region: str | None = None,
) -> StreamingQuery:
    """Start the foreachBatch query; `available_now` drains what exists, then stops."""
    writer = (
        stream.writeStream.foreachBatch(batch_writer(spark, location, metrics, region=region))
        .option("checkpointLocation", checkpoint)
        .queryName("stockpipe_process_bars")
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{interval_seconds} seconds")
    return writer.start()


def _kinesis_envelopes(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """mapInPandas: connector rows -> raw-zone envelopes, via archive.envelope()."""
    for pdf in batches:
        arrivals = pd.to_datetime(pdf["approximateArrivalTimestamp"], utc=True)
        docs = [
            envelope(
                StreamRecord(
                    shard_id=KINESIS_SHARD,
                    sequence_number=str(seq),
                    partition_key=str(key),
                    data=bytes(data) if data is not None else b"",
                    arrival_ts=arrival.to_pydatetime().astimezone(UTC),
                )
            )
            for data, key, seq, arrival in zip(
                pdf["data"], pdf["partitionKey"], pdf["sequenceNumber"], arrivals, strict=True
            )
        ]
        yield pd.DataFrame(docs, columns=list(tasks.ENVELOPE))


def emr_kinesis_stream(
    spark: SparkSession,
    stream_name: str,
    region: str,
    endpoint_url: str | None = None,
    starting_position: str = "TRIM_HORIZON",
) -> DataFrame:
    """Kinesis on EMR: the awslabs spark-sql-kinesis-connector (`aws-kinesis`)."""
    endpoint = endpoint_url or f"https://kinesis.{region}.amazonaws.com"
    frame = (
        spark.readStream.format("aws-kinesis")
        .option("kinesis.region", region)
        .option("kinesis.streamName", stream_name)
        .option("kinesis.consumerType", "GetRecords")
        .option("kinesis.endpointUrl", endpoint)
        .option("kinesis.startingPosition", starting_position)
        .load()
    )
    columns = ("data", "partitionKey", "sequenceNumber", "approximateArrivalTimestamp")
    return frame.select(*columns).mapInPandas(_kinesis_envelopes, tasks.ENVELOPE_DDL)


def glue_kinesis_stream(glue_context: Any, stream_arn: str, starting_position: str) -> DataFrame:
    """Kinesis on Glue 5.0, as Glue delivers it: shaped per batch by `glue.glue_envelopes`.

    With `inferSchema: "true"` the streaming frame's columns are not the batch's (Glue
    infers the schema inside the batch), so nothing is selected here.
    """
    frame: DataFrame = glue_context.create_data_frame.from_options(
        connection_type="kinesis",
        connection_options={
            "typeOfData": "kinesis",
            "streamARN": stream_arn,
            "classification": "json",
            "startingPosition": starting_position,
            "inferSchema": "true",
            "addRecordTimestamp": "true",
            # The shard's 5 GetRecords a second are shared with `archive` (docs/aws.md,
            # "Read budget"): the job reads each shard at most once a second.
            "addIdleTimeBetweenReads": "true",
            "idleTimeBetweenReadsInMs": "1000",
        },
        transformation_ctx="kinesis_source",
    )
    return frame


def glue_batch_writer(  # type: ignore[no-untyped-def]
    spark: SparkSession,
    location: str,
    metrics: StageMetrics | None = None,
    region: str | None = None,
):
    """The Glue batch function: any Glue Kinesis frame shape -> envelopes -> the lake."""
    seen: list[bool] = []

    def shape(frame: DataFrame, batch_id: int) -> DataFrame:
        glue.log_shape_once(frame, seen)
        return glue.glue_envelopes(frame, batch_id)

    return batch_writer(spark, location, metrics, shape, region)


def run_glue_stream(
    glue_context: Any,
    frame: DataFrame,
    location: str,
    checkpoint: str,
    window_seconds: int,
    metrics: StageMetrics | None = None,
    region: str | None = None,
) -> None:
    """Glue's own micro-batch loop: glueContext.forEachBatch with a window and checkpoint."""
    spark = glue_context.spark_session
    glue_context.forEachBatch(
        frame=frame,
        batch_function=glue_batch_writer(spark, location, metrics, region),
        options={"windowSize": f"{window_seconds} seconds", "checkpointLocation": checkpoint},
    )
