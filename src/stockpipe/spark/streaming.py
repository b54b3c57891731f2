"""Structured Streaming: every micro-batch goes through `batch.process_envelopes`.

Sources, all turned into raw-zone envelopes (contract.RAW columns) first:
- `raw_file_stream`: a file source over raw-data/ (local tests, or S3 on EMR/Glue);
- `emr_kinesis_stream`: Kinesis through the awslabs connector, format `aws-kinesis`;
- `glue_kinesis_stream`: Kinesis through `glueContext.create_data_frame.from_options`.

The batch function is idempotent (a replayed micro-batch changes nothing), so Spark's
at-least-once foreachBatch plus the checkpoint location gives an exactly-once lake.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import TYPE_CHECKING, Any

import pandas as pd

from stockpipe.contract import RAW
from stockpipe.lake import Lake
from stockpipe.lake.archive import envelope
from stockpipe.spark import tasks
from stockpipe.spark.batch import RAW_DDL, process_envelopes
from stockpipe.stream.base import StreamRecord

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

# The connectors do not expose the shard id; sequence numbers alone order one stream.
KINESIS_SHARD = "kinesis"


def batch_writer(spark: SparkSession, location: str):  # type: ignore[no-untyped-def]
    """The foreachBatch function: one micro-batch of envelopes into the lake."""

    def write(frame: DataFrame, batch_id: int) -> None:
        process_envelopes(spark, frame.select(*tasks.ENVELOPE), location)

    return write


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
) -> StreamingQuery:
    """Start the foreachBatch query; `available_now` drains what exists, then stops."""
    writer = (
        stream.writeStream.foreachBatch(batch_writer(spark, location))
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
    """Kinesis on Glue 5.0. Glue parses the JSON payloads and exposes no shard id or
    sequence number, so the payload is re-serialized and the sequence number is
    synthesized from the arrival time (ms) and a payload hash: arrival order is kept
    to the millisecond. Payloads Glue cannot parse never reach the job (see docs)."""
    from pyspark.sql import functions as F

    frame = glue_context.create_data_frame.from_options(
        connection_type="kinesis",
        connection_options={
            "typeOfData": "kinesis",
            "streamARN": stream_arn,
            "classification": "json",
            "startingPosition": starting_position,
            "inferSchema": "true",
            "addRecordTimestamp": "true",
        },
        transformation_ctx="kinesis_source",
    )
    fields = [c for c in frame.columns if c != "__src_timestamp"]
    payload = F.to_json(F.struct(*fields))
    arrival = F.col("__src_timestamp").cast("timestamp")
    millis = F.format_string("%013d", (F.col("__src_timestamp").cast("double") * 1000).cast("long"))
    digest = F.format_string("%020d", F.abs(F.xxhash64(payload)))
    return frame.select(
        F.lit(KINESIS_SHARD).alias("shard_id"),
        F.concat(millis, digest).alias("sequence_number"),
        F.lit("").alias("partition_key"),
        F.date_format(arrival, "yyyy-MM-dd'T'HH:mm:ss.SSSxxx").alias("arrival_ts"),
        payload.alias("data"),
        F.lit(None).cast("string").alias("data_b64"),
    )


def run_glue_stream(
    glue_context: Any,
    frame: DataFrame,
    location: str,
    checkpoint: str,
    window_seconds: int,
) -> None:
    """Glue's own micro-batch loop: glueContext.forEachBatch with a window and checkpoint."""
    spark = glue_context.spark_session
    glue_context.forEachBatch(
        frame=frame,
        batch_function=batch_writer(spark, location),
        options={"windowSize": f"{window_seconds} seconds", "checkpointLocation": checkpoint},
    )
