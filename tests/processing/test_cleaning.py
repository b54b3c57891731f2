"""Every reject gets a reason code, the payload and its stream position."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from stockpipe.processing.base import REASONS, CleanBar, QuarantineRow
from stockpipe.processing.cleaning import clean, clean_batch
from stockpipe.stream.base import StreamRecord

ARRIVAL = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
GOOD = {
    "schema_version": 1,
    "symbol": "BRK.B",
    "interval": "1min",
    "ts": "2026-03-10T14:30:00Z",
    "open": 10.0,
    "high": 11.0,
    "low": 9.5,
    "close": 10.5,
    "volume": 100,
    "source": "simulator",
}


def rec(data: bytes, seq: str = "42") -> StreamRecord:
    return StreamRecord("shardId-000000000001", seq, "BRK.B", data, ARRIVAL)


def doc(**changes: object) -> bytes:
    d = {**GOOD, **changes}
    return json.dumps({k: v for k, v in d.items() if v is not ...}).encode()


def test_good_record_becomes_a_clean_bar() -> None:
    bar = clean(rec(doc()))
    assert isinstance(bar, CleanBar)
    assert bar.symbol == "BRK.B" and bar.volume == 100 and bar.close == 10.5
    assert bar.ts == datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
    assert (bar.shard_id, bar.sequence_number) == ("shardId-000000000001", "42")


CASES = [
    ("not_json", b'{"symbol": "AAPL"', "invalid_json"),
    ("not_utf8", b"\xff\xfe{}", "invalid_json"),
    ("json_array", b"[1, 2]", "invalid_json"),
    ("no_ts", doc(ts=...), "missing_field"),
    ("no_volume", doc(volume=...), "missing_field"),
    ("price_is_string", doc(open="10"), "bad_type"),
    ("price_is_bool", doc(close=True), "bad_type"),
    ("volume_is_float", doc(volume=1.5), "bad_type"),
    ("ts_unparseable", doc(ts="yesterday"), "bad_type"),
    ("ts_without_zone", doc(ts="2026-03-10T14:30:00"), "bad_type"),
    ("schema_v2", doc(schema_version=2), "unsupported_schema_version"),
    ("lowercase_symbol", doc(symbol="aapl"), "bad_symbol"),
    ("path_symbol", doc(symbol="AAPL/../X"), "bad_symbol"),
    ("long_symbol", doc(symbol="ABCDEFGHIJKLM"), "bad_symbol"),
    ("interval_2min", doc(interval="2min"), "unknown_interval"),
    ("ts_1980", doc(ts="1980-01-02T14:30:00Z"), "ts_out_of_range"),
    ("ts_far_future", doc(ts="2030-01-02T14:30:00Z"), "ts_out_of_range"),
    (
        "nan_price",
        b'{"schema_version":1,"symbol":"A","interval":"1min","ts":"2026-03-10T14:30:00Z","open":NaN,"high":11,"low":9,"close":10,"volume":1,"source":"x"}',
        "non_finite_price",
    ),
    ("inf_price", doc(high=float("inf")), "non_finite_price"),
    ("zero_price", doc(low=0.0), "non_positive_price"),
    ("negative_price", doc(close=-10.5), "non_positive_price"),
    ("high_below_close", doc(high=10.4), "high_below_open_close"),
    ("low_above_open", doc(low=10.1), "low_above_open_close"),
    ("negative_volume", doc(volume=-1), "negative_volume"),
    ("source_rejected", b'{"source":"finnhub","rejected":"malformed_frame"}', "source_rejected"),
    # A full, valid bar that its source marked as rejected is still quarantined.
    ("rejected_bar", doc(rejected="too_late"), "source_rejected"),
]


@pytest.mark.parametrize(("payload", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_records_are_quarantined_with_reason(payload: bytes, reason: str) -> None:
    row = clean(rec(payload, seq="777"))
    assert isinstance(row, QuarantineRow)
    assert row.reason == reason
    assert row.reason in REASONS
    assert row.detail
    assert (row.shard_id, row.sequence_number, row.arrival_ts) == (
        "shardId-000000000001",
        "777",
        ARRIVAL,
    )
    assert row.payload == payload.decode("utf-8", errors="replace")


def test_every_reason_code_is_exercised() -> None:
    assert {c[2] for c in CASES} == set(REASONS)


def test_clean_batch_splits_and_keeps_order() -> None:
    good, bad = clean_batch([rec(doc(), "1"), rec(b"x", "2"), rec(doc(volume=5), "3")])
    assert [b.sequence_number for b in good] == ["1", "3"]
    assert [q.sequence_number for q in bad] == ["2"]


@pytest.mark.parametrize("symbol", ["MSFT\n", "MSFT\r\n", "\nMSFT", "MSFT\n\n"])
def test_a_symbol_with_a_newline_is_quarantined_not_a_series_of_its_own(symbol: str) -> None:
    # Issue 17, item 4: the pattern ended in `$`, which also matches before a final "\n".
    out = clean(rec(doc(symbol=symbol)))
    assert isinstance(out, QuarantineRow)
    assert out.reason == "bad_symbol" and repr(symbol) in out.detail


def test_replay_and_alpha_vantage_refuse_a_symbol_with_a_trailing_newline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from stockpipe.errors import ConfigError
    from stockpipe.sources.replay import ReplaySource

    path = tmp_path / "msft.csv"
    path.write_text("timestamp,open,high,low,close,volume\n2026-11-24 09:31:00,1,1,1,1,10\n")
    with pytest.raises(ConfigError, match=r"--symbol 'MSFT\\n' is invalid"):
        ReplaySource([path], symbol="MSFT\n")


def test_a_record_the_source_rejected_keeps_the_sources_reason() -> None:
    payload = b'{"source":"alpaca","rejected":"too_late","detail":"trade 3 min late","raw":"[]"}'
    arrival = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    row = clean(StreamRecord("shardId-000000000000", "7", "alpaca-rejected", payload, arrival))
    assert isinstance(row, QuarantineRow)
    assert (row.reason, row.detail) == ("source_rejected", "too_late: trade 3 min late")
    assert row.payload == payload.decode()
