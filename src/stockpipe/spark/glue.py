"""Glue's Kinesis frames, turned into raw-zone envelopes inside each micro-batch.

`glueContext.create_data_frame.from_options(connection_type="kinesis", ...)` does not
give one fixed schema. The shapes the AWS docs and the `awsglue` sources describe:

- "inferred" (`inferSchema: "true"`, the job's setting): ONE string column,
  `$json$data_infer_schema$_temporary$` (some Glue releases spell it
  `$json$data_infer_schema$.temporary$`), holding each record's JSON text; Glue infers
  the schema only later, inside the batch. That text is the record's original bytes,
  so it is the payload, and parsing is the same as on every other path.
- "parsed" (`inferSchema: "false"` with a `schema`): one column per schema field. The
  payload is rebuilt with `to_json`; a record that did not parse arrives as NULL
  fields and is quarantined as `missing_field` instead of `invalid_json`.
- "record": the connector's own columns (`data` as binary, `approximateArrivalTimestamp`,
  and `sequenceNumber`/`partitionKey` when present), as on EMR.

Each shape may carry an arrival column: `__src_timestamp` (`addRecordTimestamp: "true"`)
or `approximateArrivalTimestamp`. The shape is decided per batch, from the batch's own
columns, because with inferred schemas the streaming frame's columns are not the batch's.

Glue exposes no shard id, and the inferred and parsed shapes no sequence number. The
synthetic sequence number is `batch id (12 digits) + arrival ms (13) + row id (19)`:
later batches sort after earlier ones, arrival order holds within a batch, and a
replayed batch (same id, same rows, same order) gets the same numbers, so the lake
stays idempotent.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from stockpipe.errors import ConfigError
from stockpipe.spark import tasks

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

INFERRED_COLUMNS = ("$json$data_infer_schema$_temporary$", "$json$data_infer_schema$.temporary$")
ARRIVAL_COLUMNS = ("__src_timestamp", "approximateArrivalTimestamp")
RECORD_METADATA = ("sequenceNumber", "partitionKey", "streamName", "shardId")
# The connectors do not expose the shard id; sequence numbers alone order one stream.
KINESIS_SHARD = "kinesis"
# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_MILLIS_FLOOR = 100_000_000_000


def _col(name: str) -> Column:
    from pyspark.sql import functions as F

    # Backticks: Glue's column names contain '$' and, in some releases, a '.'.
    return F.col(f"`{name}`")


def frame_shape(frame: DataFrame) -> str:
    """ "inferred", "record" or "parsed"; a frame with no payload column is refused."""
    from pyspark.sql.types import BinaryType

    names = set(frame.columns)
    if names & set(INFERRED_COLUMNS):
        return "inferred"
    types = {f.name: f.dataType for f in frame.schema.fields}
    if isinstance(types.get("data"), BinaryType):
        return "record"
    if names - set(ARRIVAL_COLUMNS):
        return "parsed"
    raise ConfigError(
        f"the Glue Kinesis frame has no payload column (columns: {sorted(names)}); "
        "keep classification json and inferSchema true in the job's connection options"
    )


def _arrival(frame: DataFrame, now: datetime) -> Column:
    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType

    types = {f.name: f.dataType for f in frame.schema.fields}
    name = next((c for c in ARRIVAL_COLUMNS if c in types), None)
    if name is None:
        # No arrival column: the batch's own time (quarantine days follow it).
        return F.lit(now.timestamp()).cast("timestamp")
    col = _col(name)
    if isinstance(types[name], NumericType):
        seconds = F.when(col > _MILLIS_FLOOR, col / 1000).otherwise(col)
        return seconds.cast("double").cast("timestamp")
    return col.cast("timestamp")


def _payload(frame: DataFrame, shape: str) -> tuple[Column, Column]:
    """(data, data_b64) columns: text when the payload is text, base64 when binary."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BinaryType

    types = {f.name: f.dataType for f in frame.schema.fields}
    if shape == "parsed":
        fields = [_col(c) for c in frame.columns if c not in ARRIVAL_COLUMNS]
        return F.to_json(F.struct(*fields)), F.lit(None).cast("string")
    name = "data" if shape == "record" else next(c for c in INFERRED_COLUMNS if c in types)
    if isinstance(types[name], BinaryType):
        # Bytes stay bytes: from_envelope decodes base64, exactly as the archive does.
        return F.lit(None).cast("string"), F.base64(_col(name))
    return _col(name).cast("string"), F.lit(None).cast("string")


def glue_envelopes(frame: DataFrame, batch_id: int, now: datetime | None = None) -> DataFrame:
    """One Glue micro-batch as raw-zone envelopes (the columns of `tasks.ENVELOPE`)."""
    from pyspark.sql import functions as F

    now = now or datetime.now(UTC)
    shape = frame_shape(frame)
    arrival = _arrival(frame, now)
    data, data_b64 = _payload(frame, shape)
    has_arrival = any(c in frame.columns for c in ARRIVAL_COLUMNS)
    if shape == "record" and "sequenceNumber" in frame.columns:
        sequence = _col("sequenceNumber").cast("string")
    else:
        # Without an arrival column the batch time would change on a replay: leave it out.
        millis = (arrival.cast("double") * 1000).cast("long") if has_arrival else F.lit(0)
        sequence = F.concat(
            F.format_string("%012d", F.lit(int(batch_id)).cast("long")),
            F.format_string("%013d", millis),
            F.format_string("%019d", F.monotonically_increasing_id()),
        )
    if shape == "record" and "partitionKey" in frame.columns:
        key = _col("partitionKey").cast("string")
    else:
        key = F.lit("")
    envelopes = frame.select(
        F.lit(KINESIS_SHARD).alias("shard_id"),
        sequence.alias("sequence_number"),
        key.alias("partition_key"),
        F.date_format(arrival, "yyyy-MM-dd'T'HH:mm:ss.SSSxxx").alias("arrival_ts"),
        data.alias("data"),
        data_b64.alias("data_b64"),
    )
    return envelopes.select(*tasks.ENVELOPE)


def describe_shape(frame: DataFrame) -> str:
    """The one log line that says which Glue shape a batch had (see docs/aws.md)."""
    return f"stockpipe glue frame: shape={frame_shape(frame)} schema={frame.schema.simpleString()}"


def log_shape_once(frame: DataFrame, seen: list[bool]) -> None:
    # stderr goes to Glue's error log group, where the verify command looks for it.
    if not seen:
        print(describe_shape(frame), file=sys.stderr, flush=True)
        seen.append(True)
