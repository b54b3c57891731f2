"""ReplaySource, and replay -> archive -> process end to end through the CLI."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from stockpipe.errors import ConfigError, SourceError
from stockpipe.sources.replay import ReplaySource

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alphavantage"
SPRING = FIXTURES / "msft_intraday_60min_dst_spring.json"
AUTUMN = FIXTURES / "msft_intraday_60min_dst_autumn.csv"
COMPACT = FIXTURES / "ibm_intraday_5min_compact.json"

# US Eastern offsets around the 2026 changes (8 March and 1 November), written out by hand.
_SPRING_CHANGE = datetime(2026, 3, 8)  # noqa: DTZ001 - compared with naive local times
_AUTUMN_CHANGE = datetime(2026, 11, 1)  # noqa: DTZ001


def eastern_to_utc(text: str) -> datetime:
    local = datetime.fromisoformat(text)
    daylight = _SPRING_CHANGE <= local < _AUTUMN_CHANGE
    return (local + timedelta(hours=4 if daylight else 5)).replace(tzinfo=UTC)


def start_of_60min_label(text: str) -> datetime:
    # Alpha Vantage labels an intraday bar by its end: the 60min bar labelled 10:00 starts at 09:00.
    return eastern_to_utc(text) - timedelta(hours=1)


def file_rows() -> dict[datetime, tuple[float, float, float, float, int]]:
    """Every bar of the two MSFT fixtures, read straight from the files."""
    rows = {}
    doc = json.loads(SPRING.read_text())["Time Series (60min)"]
    for stamp, v in doc.items():
        rows[start_of_60min_label(stamp)] = (
            float(v["1. open"]),
            float(v["2. high"]),
            float(v["3. low"]),
            float(v["4. close"]),
            int(v["5. volume"]),
        )
    with AUTUMN.open(newline="") as handle:
        for r in csv.DictReader(handle):
            rows[start_of_60min_label(r["timestamp"])] = (
                float(r["open"]),
                float(r["high"]),
                float(r["low"]),
                float(r["close"]),
                int(r["volume"]),
            )
    return rows


def payloads(source: ReplaySource) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(p) for batch in source.batches() for _, p in batch]


def test_json_symbol_and_interval_come_from_meta_data() -> None:
    records = payloads(ReplaySource([COMPACT]))
    assert len(records) == 100
    assert {(r["symbol"], r["interval"], r["source"]) for r in records} == {
        ("IBM", "5min", "replay")
    }
    assert records[0]["ts"] == "2026-11-24T16:40:00Z"  # oldest first; 11:40 EST


def test_csv_needs_symbol_and_infers_interval() -> None:
    with pytest.raises(ConfigError, match="--symbol"):
        payloads(ReplaySource([AUTUMN]))
    records = payloads(ReplaySource([AUTUMN], symbol="MSFT"))
    assert len(records) == 32 and {r["interval"] for r in records} == {"60min"}


def test_interval_mismatch_is_refused() -> None:
    with pytest.raises(ConfigError, match="--interval 5min does not match"):
        payloads(ReplaySource([SPRING], interval="5min"))
    with pytest.raises(ConfigError, match="does not match the CSV"):
        payloads(ReplaySource([AUTUMN], symbol="MSFT", interval="1min"))


def test_symbol_mismatch_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not match IBM"):
        payloads(ReplaySource([COMPACT], symbol="MSFT"))


def test_saved_error_body_is_explained(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="info_daily_limit.json.*daily request limit"):
        payloads(ReplaySource([FIXTURES / "info_daily_limit.json"]))


def test_missing_file_and_no_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        ReplaySource([tmp_path / "nope.json"])
    with pytest.raises(ConfigError, match="at least one FILE"):
        ReplaySource([])


def test_bad_csv_header(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,o,h,l,c,v\n2026-11-24 09:30:00,1,1,1,1,1\n")
    with pytest.raises(SourceError, match="CSV header"):
        payloads(ReplaySource([bad], symbol="IBM"))


def test_replay_archive_process_end_to_end(home: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Files given by relative path, as a user would after saving them with curl.
    shutil.copy(SPRING, tmp_path / "spring.json")
    shutil.copy(AUTUMN, tmp_path / "autumn.csv")
    result = cli("ingest", "--source", "replay", "spring.json", "autumn.csv", "--symbol", "MSFT")
    assert result.code == 0, result.err
    assert "ingested 64 records (64 bars) from replay" in result.out
    assert cli("archive").code == 0
    processed = cli("process")
    assert processed.code == 0, processed.err

    raw = list((home / "lake" / "raw-data").rglob("*.jsonl"))
    assert sum(len(p.read_text().splitlines()) for p in raw) == 64

    table = pq.read_table(
        [str(p) for p in sorted((home / "lake" / "processed-data" / "bars").rglob("*.parquet"))]
    )
    rows = table.select(
        ["symbol", "interval", "ts", "open", "high", "low", "close", "volume", "source"]
    )
    got = {
        r["ts"].astimezone(UTC): (r["open"], r["high"], r["low"], r["close"], r["volume"])
        for r in rows.to_pylist()
    }
    expected = file_rows()
    assert len(expected) == 64 and table.num_rows == 64
    assert got == expected
    assert set(table.column("symbol").to_pylist()) == {"MSFT"}
    assert set(table.column("interval").to_pylist()) == {"60min"}
    assert set(table.column("source").to_pylist()) == {"replay"}
    # Spot checks across both daylight-saving changes: 09:00 Eastern each day.
    stamps = set(got)
    for utc_text in (
        "2026-03-06T14:00:00",  # Fri, EST
        "2026-03-09T13:00:00",  # Mon, EDT
        "2026-10-30T13:00:00",  # Fri, EDT
        "2026-11-02T14:00:00",  # Mon, EST
    ):
        assert datetime.fromisoformat(utc_text).replace(tzinfo=UTC) in stamps
    # Bars land in the partition of their New York session date.
    dts = {p.parent.name for p in (home / "lake" / "processed-data" / "bars").rglob("*.parquet")}
    assert dts == {"dt=2026-03-06", "dt=2026-03-09", "dt=2026-10-30", "dt=2026-11-02"}
