"""The task-side pieces that need no Spark: the in-memory lake, routing, Kinesis rows."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

import pandas as pd
import pyarrow.parquet as pq
import pytest

from stockpipe.contract import SESSIONS
from stockpipe.errors import UnsafePathError
from stockpipe.lake.memory import MemoryLake
from stockpipe.spark import tasks
from stockpipe.spark.job import main, parser
from stockpipe.spark.streaming import KINESIS_SHARD, _kinesis_envelopes

BAR = (
    b'{"schema_version":1,"symbol":"AAPL","interval":"1min","ts":"2026-11-23T14:30:00Z",'
    b'"open":10.0,"high":11.0,"low":9.5,"close":10.5,"volume":100,"source":"simulator"}'
)


def test_memory_lake_reads_lists_deletes_and_refuses_unsafe_paths() -> None:
    lake = MemoryLake()
    lake.write_bytes("processed-data/bars/dt=2026-11-23/part-0.parquet", b"x")
    lake.write_bytes("processed-data/daily/dt=2026-11-23/part-0.parquet", b"y")
    assert lake.list("processed-data/bars") == ["processed-data/bars/dt=2026-11-23/part-0.parquet"]
    assert lake.read_bytes("processed-data/bars/dt=2026-11-23/part-0.parquet") == b"x"
    lake.delete("processed-data/bars/dt=2026-11-23/part-0.parquet")
    with pytest.raises(FileNotFoundError):
        lake.read_bytes("processed-data/bars/dt=2026-11-23/part-0.parquet")
    with pytest.raises(UnsafePathError):
        lake.write_bytes("../escape", b"z")


def _envelope(seq: str, data: str | None, b64: str | None = None) -> dict[str, str | None]:
    return {
        "shard_id": "shardId-000000000000",
        "sequence_number": seq,
        "partition_key": "AAPL",
        "arrival_ts": "2026-11-23T21:00:00.000+00:00",
        "data": data,
        "data_b64": b64,
    }


def test_route_sends_bars_to_their_series_and_rejects_to_their_arrival_day() -> None:
    frame = pd.DataFrame(
        [
            _envelope("1", BAR.decode()),
            _envelope("2", "{not json"),
            _envelope("3", None, base64.b64encode(b"\xff\xfe").decode()),
        ]
    )
    routed = pd.concat(list(tasks.route([frame])))
    assert list(routed["group"]) == [
        "bars|AAPL|1min",
        "quarantine|2026-11-23",
        "quarantine|2026-11-23",
    ]
    assert list(routed["sequence_number"]) == ["1", "2", "3"]


def test_route_reads_only_symbol_and_interval_and_lets_clean_decide_the_rest() -> None:
    """Issue 21 item 6: routing does not clean; the series' engine cleans each record once.
    A bad price with a good symbol goes to its series (whose engine quarantines it); a
    payload only Python's JSON parser reads (a NaN price) is decided by `clean`."""
    bad_price = BAR.replace(b'"close":10.5', b'"close":-1.0').decode()
    nan_price = BAR.replace(b'"close":10.5', b'"close":NaN').decode()
    lower = BAR.replace(b'"AAPL"', b'"aapl"').decode()
    no_interval = BAR.replace(b'"interval":"1min",', b"").decode()
    duplicate_key = BAR.replace(b'"symbol":"AAPL"', b'"symbol":"AAPL","symbol":"MSFT"').decode()
    frame = pd.DataFrame(
        [
            _envelope(str(i), data)
            for i, data in enumerate([bad_price, nan_price, lower, no_interval, duplicate_key])
        ]
    )
    routed = pd.concat(list(tasks.route([frame])))
    assert list(routed["group"]) == [
        "bars|AAPL|1min",
        "quarantine|2026-11-23",
        "quarantine|2026-11-23",
        "quarantine|2026-11-23",
        "bars|MSFT|1min",  # the last of a repeated key, as json.loads reads it
    ]


def test_a_series_group_quarantines_its_bad_records_with_cleans_reason() -> None:
    bad_price = BAR.replace(b'"close":10.5', b'"close":-1.0').decode()
    envelopes = pd.DataFrame([_envelope("5", BAR.decode()), _envelope("6", bad_price)])
    envelopes.insert(0, "group", "bars|AAPL|1min")
    stored = pd.DataFrame(columns=["group", "dt", "name", "data"])
    out = tasks.run_group(envelopes, stored, SESSIONS)
    assert sorted(out["table"]) == ["_stats", "bars", "daily", "quarantine"]
    stats = tasks.sum_stats(out[out["table"] == "_stats"]["data"])
    assert (stats.read, stats.kept, stats.quarantined) == (2, 1, 1)
    quarantine = pq.read_table(io.BytesIO(out[out["table"] == "quarantine"]["data"].iat[0]))
    assert quarantine.column("reason").to_pylist() == ["non_positive_price"]
    assert quarantine.column("sequence_number").to_pylist() == ["6"]


def test_run_group_runs_the_engine_and_ships_partition_files() -> None:
    envelopes = pd.DataFrame([_envelope("5", BAR.decode()), _envelope("9", BAR.decode())])
    envelopes.insert(0, "group", "bars|AAPL|1min")
    stored = pd.DataFrame(columns=["group", "dt", "name", "data"])
    out = tasks.run_group(envelopes, stored, SESSIONS)
    tables = sorted(zip(out["table"], out["dt"], strict=True))
    assert tables == [("_stats", ""), ("bars", "2026-11-23"), ("daily", "2026-11-23")]
    stats = tasks.sum_stats(out[out["table"] == "_stats"]["data"])
    # Two versions of one key: one kept, one duplicate (the later one wins).
    assert (stats.read, stats.kept, stats.duplicates, stats.quarantined) == (2, 1, 1, 0)


def test_kinesis_rows_become_raw_zone_envelopes() -> None:
    rows = pd.DataFrame(
        {
            "data": [BAR, b"\xff"],
            "partitionKey": ["AAPL", "AAPL"],
            "sequenceNumber": ["495", "496"],
            "approximateArrivalTimestamp": [datetime(2026, 11, 23, 21, 0, tzinfo=UTC)] * 2,
        }
    )
    out = pd.concat(list(_kinesis_envelopes([rows])))
    assert list(out.columns) == list(tasks.ENVELOPE)
    first, second = out.to_dict("records")
    assert first["shard_id"] == KINESIS_SHARD and first["data"] == BAR.decode()
    assert first["arrival_ts"] == "2026-11-23T21:00:00.000+00:00"
    assert second["data"] is None and second["data_b64"] == base64.b64encode(b"\xff").decode()


def test_job_arguments_and_streaming_needs_a_checkpoint(capsys) -> None:
    args = parser().parse_args(["--source", "raw", "--out", "/tmp/lake", "--from", "2026-11-23"])
    assert (args.source, args.out, args.from_date, args.stream) == (
        "raw",
        "/tmp/lake",
        "2026-11-23",
        False,
    )
    assert main(["--source", "kinesis", "--out", "/tmp/lake"]) == 2
    assert "--checkpoint" in capsys.readouterr().err


def test_job_refuses_an_unknown_choice_of_indicator_bars(capsys) -> None:
    args = ["--source", "raw", "--out", "/tmp/lake", "--indicator-sessions", "overnight"]
    assert parser().parse_args(args[:4] + ["--indicator-sessions", "regular"]).indicator_sessions
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--indicator-sessions" in err and "overnight" in err and "Traceback" not in err
