"""TestingSource: bars or payloads in, the same payloads out in batches, failing on demand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stockpipe.errors import SourceError
from stockpipe.records import Bar
from stockpipe.testing import TestingSource

BAR = Bar("AAPL", "1min", datetime(2026, 11, 25, 14, 30, tzinfo=UTC), 1.0, 2.0, 0.5, 1.5, 7, "t")
# The canonical stream record of BAR, written out by hand (records.Bar.to_json).
BAR_JSON = (
    b'{"schema_version":1,"symbol":"AAPL","interval":"1min","ts":"2026-11-25T14:30:00Z",'
    b'"open":1.0,"high":2.0,"low":0.5,"close":1.5,"volume":7,"source":"t"}'
)
PAYLOADS = [("K", str(i).encode()) for i in range(5)]


def test_bars_become_symbol_keyed_json_payloads() -> None:
    assert list(TestingSource([BAR, ("MSFT", b"x")]).batches()) == [
        [("AAPL", BAR_JSON), ("MSFT", b"x")]
    ]


def test_payloads_come_in_batches_of_the_given_size() -> None:
    source = TestingSource(PAYLOADS, batch_size=2)
    assert list(source.batches()) == [PAYLOADS[0:2], PAYLOADS[2:4], PAYLOADS[4:5]]
    assert source.stats.payloads == 5


@pytest.mark.parametrize(
    ("raise_after", "expected"),
    [
        (0, []),
        (3, [PAYLOADS[0:2], PAYLOADS[2:3]]),
        (9, [PAYLOADS[0:2], PAYLOADS[2:4], [PAYLOADS[4]]]),
    ],
    ids=["at-once", "mid-batch", "past-the-end"],
)
def test_raise_after_fails_once_that_many_payloads_are_out(
    raise_after: int, expected: list[list[tuple[str, bytes]]]
) -> None:
    got = []
    with pytest.raises(SourceError, match=f"TestingSource failed after {raise_after} payloads"):
        for batch in TestingSource(PAYLOADS, batch_size=2, raise_after=raise_after).batches():
            got.append(batch)
    assert got == expected


def test_the_error_raised_can_be_chosen() -> None:
    source = TestingSource(PAYLOADS, raise_after=1, error=ConnectionResetError("feed dropped"))
    with pytest.raises(ConnectionResetError, match="feed dropped"):
        list(source.batches())


def test_stop_ends_the_batches_after_the_one_in_hand() -> None:
    source = TestingSource(PAYLOADS, batch_size=2, raise_after=5)
    seen = []
    for batch in source.batches():
        seen.append(batch)
        source.stop()
    assert seen == [PAYLOADS[0:2]]  # and no error: a stopped source does not fail


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        TestingSource(PAYLOADS, batch_size=0)
