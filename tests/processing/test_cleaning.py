"""Every reject gets a reason code, the payload and its stream position."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cleaning_cases import CASES, doc

from stockpipe.processing.base import REASONS, CleanBar, QuarantineRow
from stockpipe.processing.cleaning import clean, clean_batch
from stockpipe.stream.base import StreamRecord

ARRIVAL = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def rec(data: bytes, seq: str = "42") -> StreamRecord:
    return StreamRecord("shardId-000000000001", seq, "BRK.B", data, ARRIVAL)


def test_good_record_becomes_a_clean_bar() -> None:
    bar = clean(rec(doc()))
    assert isinstance(bar, CleanBar)
    assert bar.symbol == "BRK.B" and bar.volume == 100 and bar.close == 10.5
    assert bar.ts == datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
    assert (bar.shard_id, bar.sequence_number) == ("shardId-000000000001", "42")


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
