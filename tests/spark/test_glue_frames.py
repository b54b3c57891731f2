"""Issue 18, point 1: Glue's Kinesis frames reach the lake as the embedded engine would write it.

With `inferSchema: "true"` Glue hands each batch ONE string column,
`$json$data_infer_schema$_temporary$`, holding each record's JSON text. Before the fix
the job wrapped that column into `{"$json$...": "..."}` and every record was quarantined.
The other shapes the Glue docs describe (a parsed schema, the connector's own record
columns, an arrival column) are checked at the envelope level.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from sparkhelp import ingest, read_table, simulated

from stockpipe.errors import ConfigError
from stockpipe.lake.local import LocalLake
from stockpipe.lake.raw import from_envelope
from stockpipe.metrics.local import LocalMetrics, read_metrics_file
from stockpipe.metrics.stage import StageMetrics
from stockpipe.pipeline.stages import run_process
from stockpipe.processing.base import CleanBar
from stockpipe.processing.cleaning import clean
from stockpipe.spark import streaming
from stockpipe.spark.glue import INFERRED_COLUMNS, frame_shape, glue_envelopes
from stockpipe.stream.local import LocalStream

pytestmark = [pytest.mark.spark, pytest.mark.integration]

# Stream positions legitimately differ (Glue has no shard id or sequence number).
LINEAGE = ("ingest_shard", "ingest_seq")


def _engine_lake(payloads: list[tuple[str, bytes]], root: Path) -> tuple[Path, dict]:
    stream = LocalStream(root / "stream.db", shard_count=2)
    try:
        ingest(stream, payloads)
        totals = run_process(stream, LocalLake(root / "lake")).extra
    finally:
        stream.close()
    return root / "lake", totals


def _without(table: pa.Table, names: tuple[str, ...]) -> pa.Table:
    return table.drop_columns([n for n in names if n in table.column_names])


def _quarantine(lake: Path) -> list[tuple[str, str, str]]:
    rows = read_table(lake, "quarantine").select(["reason", "detail", "payload"]).to_pylist()
    return sorted((r["reason"], r["detail"], r["payload"]) for r in rows)


def test_inferred_schema_batch_gives_the_embedded_engines_lake(spark, two_sessions, tmp_path):
    from pyspark.sql.types import StringType, StructField, StructType

    payloads = simulated(two_sessions[:1], seed=4, fault_rate=0.05)
    engine, totals = _engine_lake(payloads, tmp_path / "engine")
    schema = StructType([StructField("$json$data_infer_schema$_temporary$", StringType())])
    frame = spark.createDataFrame([(data.decode("utf-8"),) for _, data in payloads], schema)
    assert frame.columns == ["$json$data_infer_schema$_temporary$"]  # exactly Glue's shape

    glue_lake = tmp_path / "glue"
    state = tmp_path / "state"
    metrics = StageMetrics(LocalMetrics(state), "process", "bars")
    streaming.glue_batch_writer(spark, str(glue_lake), metrics)(frame, 0)

    bars = _without(read_table(glue_lake, "bars"), LINEAGE)
    assert bars.num_rows == 3 * 390  # every bar of the session, duplicates dropped
    assert bars.equals(_without(read_table(engine, "bars"), LINEAGE))
    assert read_table(glue_lake, "daily").equals(read_table(engine, "daily"))
    quarantined = _quarantine(glue_lake)
    assert quarantined and quarantined == _quarantine(engine)
    assert not any("$json$" in payload for _, _, payload in quarantined)

    # The batch emitted the process stage's metrics, with the engine's counts, and
    # flushed them when the batch was durable.
    emitted = read_metrics_file(state)["stages"]["process"]
    assert emitted["RecordsProcessed"]["total"] == totals["kept"] == 3 * 390
    assert emitted["RecordsQuarantined"]["total"] == totals["quarantined"] > 0
    assert emitted["DuplicatesDropped"]["total"] == totals["duplicates"] > 0
    assert emitted["BatchDurationMs"]["count"] == 1
    assert emitted["ProcessingLagMs"]["stream"] == "bars"


def _bar(i: int) -> dict:
    return {"symbol": "AAPL", "interval": "1min", "ts": f"2026-11-23T15:{i:02d}:00Z",
            "open": 100.0 + i, "high": 101.0 + i, "low": 99.0 + i, "close": 100.5 + i,
            "volume": 1000 + i, "source": "simulator", "schema_version": 1}  # fmt: skip


def _docs(frame) -> list[dict]:  # noqa: ANN001
    return [r.asDict() for r in frame.collect()]


def test_inferred_shape_with_src_timestamp_keeps_arrival_order_and_replays_alike(spark):
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    schema = StructType(
        [
            StructField(INFERRED_COLUMNS[0], StringType()),
            StructField("__src_timestamp", TimestampType()),
        ]
    )
    arrivals = [datetime(2026, 11, 23, 15, 0, 0, 120_000 * i, tzinfo=UTC) for i in range(3)]
    texts = [json.dumps(_bar(i)) for i in range(3)]
    frame = spark.createDataFrame(list(zip(texts, arrivals, strict=True)), schema)
    assert frame_shape(frame) == "inferred"

    docs = _docs(glue_envelopes(frame, 7))
    assert [d["data"] for d in docs] == texts  # the payload is the original text
    assert [d["data_b64"] for d in docs] == [None] * 3
    assert [d["arrival_ts"] for d in docs] == [
        "2026-11-23T15:00:00.000+00:00", "2026-11-23T15:00:00.120+00:00",
        "2026-11-23T15:00:00.240+00:00",
    ]  # fmt: skip
    seqs = [d["sequence_number"] for d in docs]
    # batch 7, then the arrival in ms: later batches and later arrivals sort after.
    assert [s[:25] for s in seqs] == [f"{7:012d}{1795446000000 + 120 * i:013d}" for i in range(3)]
    assert sorted(seqs, key=int) == seqs and len(set(seqs)) == 3
    assert [d["sequence_number"] for d in _docs(glue_envelopes(frame, 7))] == seqs  # a replay
    assert int(_docs(glue_envelopes(frame, 8))[0]["sequence_number"]) > int(seqs[-1])


def test_record_and_parsed_shapes_give_the_same_clean_bars(spark):
    from pyspark.sql.types import (
        BinaryType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    raw = [json.dumps(_bar(i)).encode() for i in range(2)]
    arrival = datetime(2026, 11, 23, 15, 5, tzinfo=UTC)
    record_schema = StructType([
        StructField("data", BinaryType()), StructField("partitionKey", StringType()),
        StructField("sequenceNumber", StringType()),
        StructField("approximateArrivalTimestamp", TimestampType()),
    ])  # fmt: skip
    rows = [(raw[i], "AAPL", f"4959{i}", arrival) for i in range(2)]
    record = spark.createDataFrame(rows, record_schema)
    assert frame_shape(record) == "record"
    docs = _docs(glue_envelopes(record, 0))
    assert [(d["sequence_number"], d["partition_key"]) for d in docs] == [
        ("49590", "AAPL"), ("49591", "AAPL"),
    ]  # fmt: skip
    assert [from_envelope(d).data for d in docs] == raw  # bytes arrive byte for byte

    fields = [("symbol", StringType()), ("interval", StringType()), ("ts", StringType()),
              ("open", DoubleType()), ("high", DoubleType()), ("low", DoubleType()),
              ("close", DoubleType()), ("volume", LongType()), ("source", StringType()),
              ("schema_version", LongType())]  # fmt: skip
    parsed_schema = StructType([StructField(n, t) for n, t in fields])
    parsed = spark.createDataFrame([tuple(_bar(i).values()) for i in range(2)], parsed_schema)
    assert frame_shape(parsed) == "parsed"
    parsed_docs = _docs(glue_envelopes(parsed, 0))
    bars = [clean(from_envelope(d)) for d in parsed_docs]
    expected = [clean(from_envelope(d)) for d in docs]
    assert all(isinstance(b, CleanBar) for b in bars)
    key = [(b.symbol, b.ts, b.open, b.high, b.low, b.close, b.volume) for b in bars]  # type: ignore[union-attr]
    assert key == [(b.symbol, b.ts, b.open, b.high, b.low, b.close, b.volume) for b in expected]  # type: ignore[union-attr]


def test_a_frame_without_payload_is_refused_with_the_fix(spark):
    frame = spark.createDataFrame(
        [(datetime(2026, 11, 23, tzinfo=UTC),)], "__src_timestamp timestamp"
    )
    with pytest.raises(ConfigError, match="inferSchema true"):
        frame_shape(frame)
