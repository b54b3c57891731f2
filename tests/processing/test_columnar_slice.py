"""Issue 21, first slice of item 3: no redundant UTC conversions, new bars built column by
column, and the engine's files dictionary-encode only text columns, with the lake unchanged."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from processing_factories import bar_record, read_table, simulate

from stockpipe import calendar
from stockpipe.contract import BARS
from stockpipe.lake.local import LocalLake
from stockpipe.lake.partitions import from_arrow, to_arrow
from stockpipe.processing.base import CleanBar, bars_file_schema
from stockpipe.processing.engine import Processor
from stockpipe.processing.frames import bars_frame
from stockpipe.records import Bar

T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # a Monday, 10:00 New York (EDT)


class _Spy:
    """pd.to_datetime as called from stockpipe's own code (not pandas' or the calendar
    library's), counting all such calls and those whose input is already UTC times."""

    def __init__(self, real):  # type: ignore[no-untyped-def]
        self.real = real
        self.on_utc = 0
        self.calls = 0

    def __call__(self, arg, *args, **kwargs):  # type: ignore[no-untyped-def]
        if sys._getframe(1).f_globals.get("__name__", "").startswith("stockpipe."):
            self.calls += 1
            dtype = getattr(arg, "dtype", None)
            if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC":
                self.on_utc += 1
        return self.real(arg, *args, **kwargs)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> _Spy:
    s = _Spy(pd.to_datetime)
    monkeypatch.setattr(pd, "to_datetime", s)
    return s


def test_utc_columns_are_not_converted_again(spy: _Spy) -> None:
    utc = pd.Series(pd.DatetimeIndex([T0, T0 + timedelta(minutes=1)]).as_unit("ns"))
    assert list(calendar.session_dates(utc)) == ["2026-03-09", "2026-03-09"]
    assert list(calendar.session_of(utc, "1min")) == ["regular", "regular"]
    frame = pd.DataFrame({"symbol": ["AAA", "AAA"], "interval": ["1min"] * 2, "ts": utc})
    table = to_arrow(frame, bars_file_schema())
    back = from_arrow(table, bars_file_schema())
    assert spy.calls == 0
    assert list(back["ts"]) == [pd.Timestamp(T0), pd.Timestamp(T0 + timedelta(minutes=1))]
    assert str(back["ts"].dtype) == "datetime64[ns, UTC]"


def test_other_inputs_are_still_converted_to_utc(spy: _Spy) -> None:
    # 09:30 New York on 2026-03-09 (EDT, UTC-4) is 13:30 UTC: a regular bar; text and
    # naive times still go through pd.to_datetime.
    assert list(calendar.session_dates(["2026-03-09T13:30:00Z"])) == ["2026-03-09"]
    assert list(calendar.session_of(["2026-03-09T13:29:00Z"], "1min")) == ["pre"]
    frame = pd.DataFrame({"ts": ["2026-03-09T13:30:00+00:00"]})
    table = to_arrow(frame, bars_file_schema())
    assert table.column("ts").to_pylist() == [datetime(2026, 3, 9, 13, 30, tzinfo=UTC)]
    assert spy.calls == 3


def _bar(minute: int, close: float, volume: int = 1_000) -> Bar:
    ts = T0 + timedelta(minutes=minute)
    return Bar("AAA", "1min", ts, close, close + 0.5, close - 0.5, close, volume, "test")


def test_a_live_run_converts_no_utc_column_and_writes_text_dictionaries(
    tmp_path: Path, spy: _Spy
) -> None:
    lake = LocalLake(tmp_path / "lake")
    _sim, records = simulate(["AAA", "BBB"], sessions=1, seed=5)
    proc = Processor(lake)
    # The morning first, then the afternoon: the second batch resumes stored series.
    morning = [r for r in records if json.loads(r.data)["ts"] < "2026-03-02T17:00"]
    afternoon = [r for r in records if json.loads(r.data)["ts"] >= "2026-03-02T17:00"]
    assert len(morning) + len(afternoon) == len(records) == 2 * 390
    proc.process(morning)
    proc.process(afternoon)
    # Both series appended in both batches: their first bars, then the afternoon.
    assert (proc.fast_series, proc.general_series) == (4, 0)
    assert spy.on_utc == 0
    bars = [p for p in lake.list(BARS.prefix) if p.endswith(".parquet")]
    meta = pq.ParquetFile(io.BytesIO(lake.read_bytes(bars[0]))).metadata.row_group(0)
    schema = bars_file_schema()
    for i in range(meta.num_columns):
        col = meta.column(i)
        dictionary = bool({"PLAIN_DICTIONARY", "RLE_DICTIONARY"} & set(col.encodings))
        is_text = str(schema.field(col.path_in_schema).type) == "string"
        assert dictionary == is_text, col.path_in_schema


def _clean(minute: int, close: float, seq: int) -> CleanBar:
    return CleanBar(
        symbol="AAA",
        interval="1min",
        ts=T0 + timedelta(minutes=minute),
        open=close,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=100 * seq,
        source="sim",
        shard_id="shardId-000000000001",
        sequence_number=str(seq),
        arrival_ts=T0,
    )


def test_bars_frame_builds_each_column_from_winners_and_creators() -> None:
    winners = [_clean(0, 10.0, 7), _clean(1, 11.5, 9)]
    creators = [_clean(0, 9.0, 3), _clean(1, 11.5, 9)]
    frame = bars_frame(winners, creators)
    assert list(frame.columns) == [
        "symbol", "interval", "ts", "open", "high", "low", "close", "volume", "source",
        "ingest_shard", "ingest_seq", "_created_shard", "_created_seq",
    ]  # fmt: skip
    assert list(frame["ts"]) == [
        pd.Timestamp("2026-03-09 14:00Z"),
        pd.Timestamp("2026-03-09 14:01Z"),
    ]
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert frame["close"].tolist() == [10.0, 11.5] and frame["close"].dtype == "float64"
    assert frame["high"].tolist() == [11.0, 12.5] and frame["low"].tolist() == [9.0, 10.5]
    assert frame["volume"].tolist() == [700, 900] and frame["volume"].dtype == "int64"
    assert frame["ingest_seq"].tolist() == ["7", "9"]
    assert frame["_created_seq"].tolist() == ["3", "9"]
    with pytest.raises(ValueError, match="2 winners but 1 creators"):
        bars_frame(winners, creators[:1])


def test_a_batch_with_new_keys_and_a_correction_merges_both(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    proc = Processor(lake)
    first = proc.process([bar_record(_bar(m, 100.0 + m), seq=1 + m) for m in range(3)])
    assert (first.kept, first.duplicates) == (3, 0)
    # Minute 1 corrected (arrives later, so it wins) and minutes 3 and 4 new, one batch:
    # the general path merges stored and new keys together.
    batch = [
        bar_record(_bar(1, 150.0), seq=10),
        bar_record(_bar(3, 103.0), seq=11),
        bar_record(_bar(4, 104.0), seq=12),
    ]
    second = proc.process(batch)
    assert (second.read, second.kept, second.duplicates) == (3, 2, 1)
    bars = read_table(lake, BARS.prefix).sort_values("ts").reset_index(drop=True)
    assert bars["close"].tolist() == [100.0, 150.0, 102.0, 103.0, 104.0]
    assert bars["ingest_seq"].tolist() == ["1", "10", "3", "11", "12"]
    # The corrected key keeps its creator (the first arrival); new keys created themselves.
    assert bars["_created_seq"].tolist() == ["1", "2", "3", "11", "12"]
    # VWAP of regular bars with equal volumes is the running mean of typical prices
    # (high + low + close) / 3 = close here: 100, 125, 117.33.., 113.75, 111.8.
    assert bars["vwap"].round(6).tolist() == [100.0, 125.0, 117.333333, 113.75, 111.8]
