"""Issue 21 item 3: the engine groups a batch's clean columns by key with numpy."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from cleaning_cases import doc

from stockpipe.processing.cleaning import clean_columns
from stockpipe.processing.frames import BatchKeys, bars_frame
from stockpipe.stream.base import StreamRecord

ARRIVAL = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def _rec(
    symbol: str, minute: int, close: float, seq: str, shard: str = "shardId-1"
) -> StreamRecord:
    payload = doc(symbol=symbol, ts=f"2026-03-10T14:{minute:02d}:00Z", close=close, high=12.0)
    return StreamRecord(shard, seq, symbol, payload, ARRIVAL)


# Input order is not arrival order: "10" > "9" as numbers (not as text), and on equal
# sequence numbers the shard id decides.
RECORDS = [
    _rec("BBB", 31, 11.0, "10"),
    _rec("AAA", 31, 10.5, "3"),
    _rec("BBB", 30, 10.0, "4"),
    _rec("BBB", 31, 11.5, "9"),
    _rec("AAA", 30, 10.0, "5", "shardId-2"),
    _rec("AAA", 30, 10.25, "5", "shardId-1"),
]


def test_keys_are_grouped_by_series_and_time_with_creator_and_winner_by_position() -> None:
    batch = BatchKeys(clean_columns(RECORDS)[0])
    assert batch.series == {("AAA", "1min"): (0, 2), ("BBB", "1min"): (2, 4)}
    assert batch.versions.tolist() == [2, 1, 1, 2]
    assert batch.dt.tolist() == ["2026-03-10"] * 4
    minute = 60 * 10**9
    t30 = pd.Timestamp("2026-03-10 14:30Z").value
    assert batch.ts.tolist() == [t30, t30 + minute, t30, t30 + minute]
    # Rows are input positions: AAA 14:30 was created by shardId-1 and won by shardId-2;
    # BBB 14:31 was created by seq 9 (row 3) and won by seq 10 (row 0).
    assert batch.creator.tolist() == [5, 1, 2, 3]
    assert batch.winner.tolist() == [4, 1, 2, 0]


def test_frame_of_keys_equals_the_frame_of_their_clean_bars() -> None:
    columns = clean_columns(RECORDS)[0]
    batch = BatchKeys(columns)
    bars = columns.to_bars()
    keys = np.array([3, 0, 1])
    frame = batch.frame(keys)
    expected = bars_frame([bars[0], bars[4], bars[1]], [bars[3], bars[5], bars[1]])
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert frame["close"].tolist() == [11.0, 10.0, 10.5]
    assert frame["_created_seq"].tolist() == ["9", "5", "3"]
    assert frame["ingest_shard"].tolist() == ["shardId-1", "shardId-2", "shardId-1"]


def test_bars_of_a_series_are_its_versions_by_time() -> None:
    versions = BatchKeys(clean_columns(RECORDS)[0]).bars(("BBB", "1min"))
    t30 = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
    t31 = datetime(2026, 3, 10, 14, 31, tzinfo=UTC)
    assert list(versions) == [t30, t31]
    assert [b.sequence_number for b in versions[t30]] == ["4"]
    assert [b.sequence_number for b in versions[t31]] == ["9", "10"]
    assert [b.close for b in versions[t31]] == [11.5, 11.0]


def test_an_empty_batch_has_no_series() -> None:
    batch = BatchKeys(clean_columns([])[0])
    assert batch.series == {} and len(batch.ts) == 0
    assert batch.frame(np.array([], dtype=np.intp)).empty
