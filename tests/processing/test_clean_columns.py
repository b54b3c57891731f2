"""`clean_columns` (bulk) keeps exactly what per-record `clean` keeps, and rejects the same."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
from cleaning_cases import CASES, GOOD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockpipe.contract import RECORD_FIELDS
from stockpipe.processing.base import CleanBar, QuarantineRow
from stockpipe.processing.cleaning import CleanColumns, clean, clean_batch, clean_columns
from stockpipe.stream.base import StreamRecord

ARRIVAL = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
SHARDS = ("shardId-000000000000", "shardId-000000000001")
# Valid in every zone form `parse_ts` reads, and both sides of both bounds of the range
# check (1990-01-01 .. arrival + 400 days; arrivals below are ARRIVAL + 0..3 s).
TIMES = (
    "2026-03-10T14:30:00Z",
    "2026-03-10T14:31:00Z",
    "2026-03-10T09:31:00-05:00",
    "2026-03-10T14:32:00.250000+00:00",
    "1990-01-01T00:00:00Z",
    "1989-12-31T23:59:59Z",
    "2027-04-14T15:00:00Z",
    "2027-04-14T15:00:04Z",
)
# Values that break a field when put in its place: every JSON type, the range and
# precision edges of int64 and double, names that look almost right.
ODD_VALUES = (
    None,
    True,
    "10",
    "",
    1.0,
    1.5,
    -1,
    0,
    0.0,
    2,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    9007199254740993,
    10**400,
    float("nan"),
    float("inf"),
    -float("inf"),
    1e-320,
    [],
    {},
    "aapl",
    "AAPL\n",
    "ABCDEFGHIJKLM",
    "AAPL/../X",
    "2min",
    "1day",
    "yesterday",
    "2026-03-10T14:30:00",
    "2026-02-30T14:30:00Z",
    "1980-01-02T14:30:00Z",
    "2030-01-02T14:30:00Z",
    "\ud800",
    "é",
)
# Whole payloads that are not a bar at all.
RAW = (
    b"",
    b"x",
    b"[1, 2]",
    b"null",
    b'{"symbol": "AAPL"',
    b"\xff\xfe{}",
    b"[" * 100_000,
    b'{"source":"finnhub","rejected":"malformed_frame"}',
    b'{"source":"alpaca","rejected":"too_late","detail":"trade 3 min late","origin":"ws"}',
)


@st.composite
def bar_docs(draw: st.DrawFn) -> dict[str, object]:
    low = draw(st.floats(0.01, 1000, allow_nan=False))
    high = low + draw(st.sampled_from([0.0, 0.01, 1.5, 40.0]))
    inside = st.floats(0, 1).map(lambda f: round(low + f * (high - low), 2))
    doc: dict[str, object] = {
        "schema_version": 1,
        "symbol": draw(st.sampled_from(["AAPL", "MSFT", "BRK.B", "X", "Z9-A"])),
        "interval": draw(st.sampled_from(["1min", "5min", "1day"])),
        "ts": draw(st.sampled_from(TIMES)),
        "open": draw(inside),
        "high": high,
        "low": low,
        "close": draw(inside),
        "volume": draw(st.integers(0, 10**12)),
        "source": draw(st.sampled_from(["simulator", "replay", None])),
    }
    if draw(st.booleans()):  # whole prices, written as JSON integers
        doc.update({name: int(doc[name]) for name in ("open", "high", "low", "close")})  # type: ignore[call-overload]
    return doc


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    doc = draw(bar_docs())
    kind = draw(st.sampled_from(["good", "good", "good", "odd", "drop", "extra", "raw", "text"]))
    if kind == "odd":
        doc[draw(st.sampled_from(RECORD_FIELDS))] = draw(st.sampled_from(ODD_VALUES))
    elif kind == "drop":
        del doc[draw(st.sampled_from(RECORD_FIELDS))]
    elif kind == "extra":
        name = draw(st.sampled_from(["origin", "rejected", "detail", "note"]))
        doc[name] = draw(st.sampled_from(["", "too_late", "file a.csv line 3", 7, None]))
    elif kind == "raw":
        return draw(st.sampled_from(RAW))
    text = json.dumps(doc, indent=draw(st.sampled_from([None, 2])))
    if kind == "text":
        edit = draw(st.sampled_from(["cut", "bom", "trail", "twice", "nan", "latin1"]))
        cut = draw(st.integers(0, len(text)))
        text = {
            "cut": text[:cut],
            "bom": "\ufeff" + text,
            "trail": text + " x",
            # A repeated key: json keeps the last value.
            "twice": text.replace('"volume":', '"volume": 1, "volume":', 1),
            "nan": text.replace('"high": ', '"high": NaN, "h": ', 1),
            "latin1": text.replace('"symbol": ', '"note": "caf\udce9", "symbol": ', 1),
        }[edit]
        return text.encode("utf-8", errors="surrogateescape")
    return text.encode()


@st.composite
def batches(draw: st.DrawFn) -> list[StreamRecord]:
    data = draw(st.lists(payloads(), max_size=30))
    # Exact re-sends: the same payload again, later in the batch.
    for _ in range(draw(st.integers(0, 4)) if data else 0):
        data.insert(draw(st.integers(0, len(data))), draw(st.sampled_from(data)))
    zones = [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9, minutes=30))]
    records = []
    for seq, payload in enumerate(data, start=1):
        arrival = ARRIVAL + timedelta(seconds=draw(st.integers(0, 3)))
        arrival = arrival.astimezone(draw(st.sampled_from(zones)))
        records.append(StreamRecord(draw(st.sampled_from(SHARDS)), str(seq), "k", payload, arrival))
    return records


def per_record(records: list[StreamRecord]) -> tuple[list[CleanBar], list[QuarantineRow]]:
    results = [clean(r) for r in records]
    return (
        [r for r in results if isinstance(r, CleanBar)],
        [r for r in results if isinstance(r, QuarantineRow)],
    )


def assert_columns_hold(columns: CleanColumns, bars: list[CleanBar]) -> None:
    """Each column, read without `to_bars`, equals the bars' field, row by row."""
    assert len(columns) == len(bars)
    for name in ("symbol", "interval", "open", "high", "low", "close", "volume", "source"):
        assert getattr(columns, name).tolist() == [getattr(b, name) for b in bars], name
    assert columns.shard_id.tolist() == [b.shard_id for b in bars]
    assert columns.sequence_number.tolist() == [b.sequence_number for b in bars]
    for name in ("ts", "arrival_ts"):
        column = getattr(columns, name)
        assert column.dtype == np.dtype("datetime64[us]")
        naive_utc = [getattr(b, name).astimezone(UTC).replace(tzinfo=None) for b in bars]
        assert column.tolist() == naive_utc, name


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=batches())
def test_bulk_cleaning_equals_per_record_cleaning(records: list[StreamRecord]) -> None:
    bars, rejected = per_record(records)
    columns, quarantine = clean_columns(records)
    assert quarantine == rejected
    assert_columns_hold(columns, bars)
    again = columns.to_bars()
    assert again == bars
    assert all(type(b.volume) is int and type(b.close) is float for b in again)
    assert all(b.ts.tzinfo is UTC and b.arrival_ts.tzinfo is UTC for b in again)
    assert clean_batch(iter(records)) == (bars, rejected)


def test_every_odd_value_in_every_field_and_every_missing_field() -> None:
    # The sweep the property test samples from, in full: 10 fields x 35 values, each
    # between two good bars, plus each field left out and each raw payload.
    good = json.dumps(GOOD).encode()
    data = [good]
    for name in RECORD_FIELDS:
        for value in ODD_VALUES:
            data += [json.dumps({**GOOD, name: value}).encode(), good]
        data += [json.dumps({k: v for k, v in GOOD.items() if k != name}).encode(), good]
    data += RAW
    records = [
        StreamRecord(SHARDS[seq % 2], str(seq), "k", payload, ARRIVAL)
        for seq, payload in enumerate(data, start=1)
    ]
    bars, rejected = per_record(records)
    assert len(rejected) > 300 and len(bars) > 350  # both paths are exercised
    columns, quarantine = clean_columns(records)
    assert quarantine == rejected
    assert_columns_hold(columns, bars)
    assert columns.to_bars() == bars


def test_every_known_bad_record_and_good_ones_in_one_batch() -> None:
    good = json.dumps(GOOD).encode()
    data = [good] + [case[1] for case in CASES] + [good]
    records = [
        StreamRecord(SHARDS[0], str(seq), "k", payload, ARRIVAL)
        for seq, payload in enumerate(data, start=1)
    ]
    columns, quarantine = clean_columns(records)
    assert [q.reason for q in quarantine] == [case[2] for case in CASES]
    assert quarantine == per_record(records)[1]
    assert columns.sequence_number.tolist() == ["1", str(len(data))]
    assert columns.symbol.tolist() == ["BRK.B", "BRK.B"]


def test_a_bar_the_bulk_path_leaves_over_is_kept_in_its_place() -> None:
    # `origin` is no bar field, so decoding leaves the record to `clean`, which keeps it.
    def bar(volume: int, **extra: object) -> bytes:
        return json.dumps(
            {"schema_version": 1, "symbol": "MSFT", "interval": "5min",
             "ts": "2026-03-10T14:35:00Z", "open": 2, "high": 3, "low": 1, "close": 2.5,
             "volume": volume, "source": None, **extra}
        ).encode()  # fmt: skip

    data = [bar(1), bar(2, origin="file m.csv line 9"), b"{}", bar(3)]
    records = [
        StreamRecord(SHARDS[1], str(seq), "k", payload, ARRIVAL)
        for seq, payload in enumerate(data, start=10)
    ]
    columns, quarantine = clean_columns(records)
    assert columns.volume.tolist() == [1, 2, 3]
    assert columns.sequence_number.tolist() == ["10", "11", "13"]
    assert columns.open.tolist() == [2.0, 2.0, 2.0] and columns.source.tolist() == [None] * 3
    assert [(q.reason, q.sequence_number) for q in quarantine] == [("missing_field", "12")]


def test_a_naive_arrival_is_read_as_clean_reads_it() -> None:
    naive = datetime(2026, 3, 10, 15, 0)  # noqa: DTZ001 - a backend bug the cleaner survives
    record = StreamRecord(SHARDS[0], "1", "k", json.dumps(
        {"schema_version": 1, "symbol": "A", "interval": "1min", "ts": "2026-03-10T14:30:00Z",
         "open": 1, "high": 1, "low": 1, "close": 1, "volume": 0, "source": "s"}
    ).encode(), naive)  # fmt: skip
    expected = clean(record)
    assert isinstance(expected, CleanBar)
    assert clean_columns([record])[0].to_bars() == [expected]


def test_columns_as_an_arrow_table() -> None:
    record = StreamRecord(SHARDS[0], "5", "k", json.dumps(
        {"schema_version": 1, "symbol": "BRK.B", "interval": "1min",
         "ts": "2026-03-10T09:30:00-05:00", "open": 10, "high": 11.5, "low": 9.25,
         "close": 10.75, "volume": 300, "source": None}
    ).encode(), ARRIVAL)  # fmt: skip
    table = clean_columns([record])[0].to_arrow()
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("volume").type == pa.int64()
    assert table.to_pylist() == [
        {
            "symbol": "BRK.B",
            "interval": "1min",
            "ts": datetime(2026, 3, 10, 14, 30, tzinfo=UTC),
            "open": 10.0,
            "high": 11.5,
            "low": 9.25,
            "close": 10.75,
            "volume": 300,
            "source": None,
            "shard_id": SHARDS[0],
            "sequence_number": "5",
            "arrival_ts": ARRIVAL,
        }
    ]


def test_an_empty_batch() -> None:
    columns, quarantine = clean_columns([])
    assert len(columns) == 0 and quarantine == []
    assert columns.to_bars() == [] and columns.to_arrow().num_rows == 0
