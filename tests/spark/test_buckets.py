"""Issue 21: groups run in a few buckets (one engine run per bucket), not one per series."""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from stockpipe.contract import SESSIONS
from stockpipe.spark import tasks

BAR = (
    '{"schema_version":1,"symbol":"AAPL","interval":"1min","ts":"2026-11-23T14:30:00Z",'
    '"open":10.0,"high":11.0,"low":9.5,"close":10.5,"volume":100,"source":"simulator"}'
)
MSFT = BAR.replace('"AAPL"', '"MSFT"')
LATER = BAR.replace("14:30:00Z", "14:31:00Z")
STORED_COLUMNS = ["bucket", "group", "dt", "name", "data"]


def _envelopes(*rows: tuple[str, str, str]) -> pd.DataFrame:
    """(sequence number, payload, group) rows of one bucket (label 7)."""
    docs = [
        {
            "bucket": 7,
            "group": group,
            "shard_id": "shardId-000000000000",
            "sequence_number": seq,
            "partition_key": "AAPL",
            "arrival_ts": "2026-11-23T21:00:00.000+00:00",
            "data": data,
            "data_b64": None,
        }
        for seq, data, group in rows
    ]
    return pd.DataFrame(docs)


def _meta(out: pd.DataFrame, table: str) -> list[dict]:
    return [json.loads(bytes(d)) for d in out["data"][out["table"] == table]]


def _rows(data: bytes) -> list[tuple[str, str]]:
    table = pq.read_table(io.BytesIO(bytes(data)), columns=["symbol", "ts"])
    return sorted((s, str(t)) for s, t in zip(*table.to_pydict().values(), strict=True))


def test_route_tags_each_group_with_its_bucket_by_crc32() -> None:
    frame = _envelopes(("1", BAR, ""), ("2", MSFT, ""), ("3", "{not json", "")).drop(
        columns=["bucket", "group"]
    )
    routed = pd.concat(list(tasks.route([frame], [5, 9, 11])))
    # crc32: bars|AAPL|1min 1907875656 % 3 = 0, bars|MSFT|1min 1117139720 % 3 = 2,
    # quarantine|2026-11-23 3536050476 % 3 = 0.
    assert list(routed["bucket"]) == [5, 11, 5]
    assert list(routed["group"]) == ["bars|AAPL|1min", "bars|MSFT|1min", "quarantine|2026-11-23"]


def test_a_bucket_runs_its_new_series_and_rejects_through_one_engine() -> None:
    envelopes = _envelopes(
        ("1", BAR, "bars|AAPL|1min"),
        ("2", MSFT, "bars|MSFT|1min"),
        ("3", "{not json", "quarantine|2026-11-23"),
        ("1", BAR, "bars|AAPL|1min"),  # the same stream position again: one record
    )
    out = tasks.run_bucket(envelopes, pd.DataFrame(columns=STORED_COLUMNS), SESSIONS)

    assert sorted(zip(out["table"], out["dt"], strict=True)) == [
        ("_spans", ""),
        ("_stats", ""),
        ("bars", "2026-11-23"),
        ("daily", "2026-11-23"),
        ("quarantine", "2026-11-23"),
    ]
    assert set(out["group"]) == {"bucket|7"}
    stats = tasks.sum_stats(out["data"][out["table"] == "_stats"])
    assert (stats.read, stats.kept, stats.duplicates, stats.quarantined) == (3, 2, 0, 1)
    bars = out["data"][out["table"] == "bars"].iat[0]
    assert _rows(bars) == [
        ("AAPL", "2026-11-23 14:30:00+00:00"),
        ("MSFT", "2026-11-23 14:30:00+00:00"),
    ]
    assert _meta(out, "_spans") == [{"AAPL|1min": ["2026-11-23"], "MSFT|1min": ["2026-11-23"]}]


def test_a_series_with_stored_bars_runs_alone_beside_the_new_ones() -> None:
    first = tasks.run_group(_envelopes(("1", BAR, "bars|AAPL|1min")), pd.DataFrame(), SESSIONS)
    stored_file = first["data"][first["table"] == "bars"].iat[0]
    stored = pd.DataFrame(
        [(7, "bars|AAPL|1min", "2026-11-23", "part-0.parquet", stored_file)],
        columns=STORED_COLUMNS,
    )
    envelopes = _envelopes(("4", LATER, "bars|AAPL|1min"), ("5", MSFT, "bars|MSFT|1min"))

    out = tasks.run_bucket(envelopes, stored, SESSIONS)

    bars = out[out["table"] == "bars"]
    by_group = {g: _rows(d) for g, d in zip(bars["group"], bars["data"], strict=True)}
    assert by_group == {
        "bucket|7": [("MSFT", "2026-11-23 14:30:00+00:00")],
        "bars|AAPL|1min": [
            ("AAPL", "2026-11-23 14:30:00+00:00"),
            ("AAPL", "2026-11-23 14:31:00+00:00"),
        ],
    }
    assert _meta(out, "_spans") == [{"MSFT|1min": ["2026-11-23"]}, {"AAPL|1min": ["2026-11-23"]}]
    stats = tasks.sum_stats(out["data"][out["table"] == "_stats"])
    assert (stats.read, stats.kept) == (2, 2)


def test_read_spans_takes_each_series_first_and_last_date() -> None:
    docs = [
        json.dumps({"A|1min": ["2026-11-24", "2026-11-25"], "B|1min": []}).encode(),
        json.dumps({"A|1min": ["2026-11-23"], "C|1min": ["2026-11-27"]}).encode(),
    ]
    assert tasks.read_spans(docs) == {
        "A|1min": ("2026-11-23", "2026-11-25"),
        "C|1min": ("2026-11-27", "2026-11-27"),
    }


@pytest.mark.spark
@pytest.mark.integration
def test_bucket_labels_land_in_shuffle_partitions_of_their_own(spark) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    from stockpipe.spark.batch import bucket_labels

    labels = bucket_labels(spark)
    # local[2]: two buckets per core, within the session's 4 shuffle partitions.
    assert len(labels) == 4 and len(set(labels)) == 4
    frame = spark.createDataFrame([(label,) for label in labels], "bucket int")
    placed = frame.repartition(4, "bucket").select(F.spark_partition_id().alias("p")).collect()
    assert sorted(r["p"] for r in placed) == [0, 1, 2, 3]


def _raw_line(seq: str, data: str) -> bytes:
    doc = _envelopes((seq, data, "")).drop(columns=["bucket", "group"]).iloc[0].to_dict()
    return json.dumps(doc).encode()


def test_route_files_reads_a_raw_file_and_routes_its_envelopes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from stockpipe.lake.local import LocalLake

    path = "raw-data/dt=2026-11-23/hour=21/shardId-000000000000-1.jsonl"
    body = b"\n".join([_raw_line("1", BAR), b"", _raw_line("2", "{not json")]) + b"\n"
    LocalLake(tmp_path).write_bytes(path, body)

    routed = pd.concat(
        list(tasks.route_files([pd.DataFrame({"path": [path]})], str(tmp_path), None, [3, 8]))
    )

    assert list(routed.columns) == ["bucket", "group", *tasks.ENVELOPE]
    assert list(routed["group"]) == ["bars|AAPL|1min", "quarantine|2026-11-23"]
    assert list(routed["bucket"]) == [3, 3]  # crc32 % 2: 1907875656 -> 0, 3536050476 -> 0
    assert list(routed["sequence_number"]) == ["1", "2"]
    assert routed["data"].iat[0] == BAR and routed["data_b64"].iat[0] is None


def test_raw_files_keeps_jsonl_files_within_the_arrival_dates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from stockpipe.lake.local import LocalLake
    from stockpipe.spark.batch import raw_files

    lake = LocalLake(tmp_path)
    for name in (
        "dt=2026-11-23/hour=21/a.jsonl",
        "dt=2026-11-24/hour=00/b.jsonl",
        "dt=2026-11-25/hour=09/c.jsonl",
        "dt=2026-11-24/hour=00/notes.txt",
    ):
        lake.write_bytes(f"raw-data/{name}", b"{}\n")

    assert raw_files(lake) == [
        "raw-data/dt=2026-11-23/hour=21/a.jsonl",
        "raw-data/dt=2026-11-24/hour=00/b.jsonl",
        "raw-data/dt=2026-11-25/hour=09/c.jsonl",
    ]
    assert raw_files(lake, "2026-11-24", "2026-11-24") == ["raw-data/dt=2026-11-24/hour=00/b.jsonl"]
    assert raw_files(lake, None, "2026-11-23") == ["raw-data/dt=2026-11-23/hour=21/a.jsonl"]
