"""Structured Streaming over raw-data/ (two micro-batches) gives the batch-mode lake."""

from __future__ import annotations

import json

import pytest
from sparkhelp import TABLES, assert_same_rows, copy_raw, read_table, simulated

from stockpipe.lake.local import LocalLake
from stockpipe.spark import streaming
from stockpipe.spark.batch import reprocess_spark

pytestmark = [pytest.mark.spark, pytest.mark.integration]


def _corrected(payload: bytes) -> bytes:
    """The same bar re-sent later with another close: the later version must win."""
    doc = json.loads(payload)
    doc["close"] = round(doc["close"] * 1.001, 4)
    doc["high"] = max(doc["high"], doc["close"])
    return json.dumps(doc).encode()


def test_two_micro_batches_over_raw_files_equal_batch_mode(
    spark, raw_zone, two_sessions, tmp_path
) -> None:
    first = simulated(two_sessions[:1], seed=3, fault_rate=0.05)
    second = simulated(two_sessions[1:], seed=3, fault_rate=0.05)
    # The second wave also re-sends two late bars of the first session, an exact
    # duplicate and a correction, so micro-batch 2 must merge into micro-batch 1's rows.
    late = [first[10], (first[20][0], _corrected(first[20][1]))]
    source, waves = raw_zone(first, [*second, *late])
    batch_lake = copy_raw(source, tmp_path / "batch")
    reprocess_spark(spark, str(batch_lake))

    stream_lake, raw_dir = tmp_path / "stream", tmp_path / "stream-raw"
    checkpoint = str(tmp_path / "checkpoint")
    non_empty = 0
    for wave in waves:
        # Files arrive wave by wave; each run drains what is new (one micro-batch).
        for rel in wave:
            target = raw_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((source / rel).read_bytes())
        frame = streaming.raw_file_stream(spark, LocalLake(raw_dir))
        query = streaming.start(spark, frame, str(stream_lake), checkpoint, available_now=True)
        query.awaitTermination()
        non_empty += sum(1 for p in query.recentProgress if p["numInputRows"] > 0)

    assert non_empty == 2
    for name in TABLES:
        assert_same_rows(read_table(stream_lake, name), read_table(batch_lake, name), name)


def test_a_micro_batch_into_a_lake_of_two_workers_is_refused_in_one_line(spark, tmp_path) -> None:
    from stockpipe.errors import ConfigError
    from stockpipe.processing.workers import record_workers
    from stockpipe.spark.batch import process_envelopes
    from stockpipe.spark.tasks import ENVELOPE

    lake = LocalLake(tmp_path / "lake")
    record_workers(lake, 2)  # as `process --workers 2` leaves it
    frame = spark.createDataFrame([], ", ".join(f"{name} string" for name in ENVELOPE))
    with pytest.raises(ConfigError, match=r"^the lake's processed zone was written by 2 workers"):
        process_envelopes(spark, frame, str(tmp_path / "lake"))
    assert lake.list("processed-data") == []  # nothing written
