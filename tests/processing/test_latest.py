"""The `latest` table the engine keeps after each batch (stockpipe.processing.latest).

Expected rows are worked out here from the bars files with plain pandas, or by hand."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from processing_factories import bar_record, read_table

from stockpipe.contract import BARS, LATEST
from stockpipe.lake.local import LocalLake
from stockpipe.processing import engine
from stockpipe.processing import latest as latest_module
from stockpipe.processing.engine import Processor
from stockpipe.processing.latest import (
    LATEST_FILE,
    PENDING,
    flush_latest,
    mark_latest_pending,
    read_latest,
    rebuild_latest,
    update_latest,
)
from stockpipe.processing.zone import ProcessedZone
from stockpipe.records import Bar


def expected_latest(lake: LocalLake) -> pd.DataFrame:
    """Per symbol, interval and dt: count, first bar, newest bar, from the bars files."""
    bars = read_table(lake, BARS.prefix)
    rows = []
    for (symbol, interval, dt), part in bars.groupby(["symbol", "interval", "dt"]):
        part = part.sort_values("ts")
        first, last = part.iloc[0], part.iloc[-1]
        rows.append(
            {
                "symbol": symbol,
                "interval": interval,
                "dt": dt,
                "first_ts": first["ts"],
                "bar_count": len(part),
                "day_open": first["open"],
                **{c: last[c] for c in ("ts", "open", "high", "low", "close", "volume")},
                **{c: last[c] for c in ("vwap", "session_high", "session_low")},
            }
        )
    return _normal(pd.DataFrame(rows))


def _normal(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[LATEST.column_names].sort_values(["symbol", "interval", "dt"])
    frame = frame.reset_index(drop=True).astype({"bar_count": "int64", "volume": "int64"})
    for col in ("first_ts", "ts"):
        frame[col] = pd.to_datetime(frame[col], utc=True).dt.as_unit("ns")
    return frame


def stored(lake: LocalLake) -> pd.DataFrame:
    frame = read_latest(lake)
    assert frame is not None
    return _normal(frame)


def test_latest_equals_a_recompute_after_every_batch_and_late_bars(lake, sim_records) -> None:
    _, records = sim_records(["AAA", "BBB"], 3, seed=4)
    half = len(records) // 2
    # The second half first, then the first half: older bars arriving late.
    batches = [records[half:][:400], records[half:][400:], records[:half][:300], records[:half]]
    processor = Processor(lake)
    for batch in batches:
        processor.process(batch)
        pd.testing.assert_frame_equal(stored(lake), expected_latest(lake))
    assert len(stored(lake)) == 2 * 3  # two symbols, three sessions, one interval


def _bar(minute: int, close: float, volume: int) -> Bar:
    ts = datetime(2026, 3, 3, 15, minute, tzinfo=UTC)  # 10:xx New York, a regular session
    return Bar("AAPL", "1min", ts, close - 1, close + 1, close - 2, close, volume, "test")


def test_a_late_bar_updates_the_count_and_first_bar_not_the_newest(lake) -> None:
    processor = Processor(lake)
    processor.process([bar_record(_bar(m, 100.0 + m, 10 * m), m) for m in (5, 6, 7)])
    processor.process([bar_record(_bar(1, 90.0, 7), 8)])  # older than the newest
    (row,) = read_latest(lake).to_dict("records")
    assert row["dt"] == "2026-03-03"
    assert row["bar_count"] == 4
    assert row["first_ts"] == pd.Timestamp("2026-03-03 15:01", tz="UTC")
    assert row["day_open"] == 89.0
    assert row["ts"] == pd.Timestamp("2026-03-03 15:07", tz="UTC")
    assert (row["open"], row["high"], row["low"], row["close"]) == (106.0, 108.0, 105.0, 107.0)
    assert row["volume"] == 70


def test_a_batch_recomputes_only_the_dates_it_wrote(lake, monkeypatch) -> None:
    def day(d: int, minute: int) -> Bar:
        ts = datetime(2026, 3, d, 15, minute, tzinfo=UTC)  # 10:xx New York, regular session
        return Bar("AAPL", "1min", ts, 99.0, 120.0, 98.0, 100.0 + minute, 10, "test")

    processor = Processor(lake)
    processor.process([bar_record(day(d, m), 10 * d + m) for d in (2, 3) for m in (1, 2)])
    computed: list[str] = []
    real = latest_module.latest_rows

    def counted(bars: pd.DataFrame, dt: str) -> pd.DataFrame:
        computed.append(dt)
        return real(bars, dt)

    monkeypatch.setattr(latest_module, "latest_rows", counted)
    processor.process([bar_record(day(3, 5), 99)])  # both dates are held; only 03-03 changes
    assert computed == ["2026-03-03"]
    processor.process([bar_record(day(3, 5), 99)])  # a replay: nothing written
    assert computed == ["2026-03-03"]
    pd.testing.assert_frame_equal(stored(lake), expected_latest(lake))
    assert stored(lake)["bar_count"].tolist() == [2, 3]
    assert stored(lake)["close"].tolist() == [102.0, 105.0]


def _rows(*bars: tuple[str, int, int, float]) -> pd.DataFrame:
    """Bars rows (symbol, day of March 2026, minute, close) with the columns latest reads."""
    ts = [datetime(2026, 3, d, 15, m, tzinfo=UTC) for _, d, m, _ in bars]
    close = [c for *_, c in bars]
    return pd.DataFrame(
        {
            "symbol": [s for s, *_ in bars],
            "interval": "1min",
            "ts": pd.to_datetime(ts, utc=True),
            "open": [c - 0.5 for c in close],
            "high": [c + 1 for c in close],
            "low": [c - 1 for c in close],
            "close": close,
            "volume": [int(c) for c in close],
            "vwap": [math.nan if c == 7.0 else c for c in close],  # NULL vwap on close 7
            "session_high": [c + 2 for c in close],
            "session_low": [c - 2 for c in close],
            "session": "regular",
        }
    )


def test_appended_bars_combine_with_the_held_rows_as_a_recompute_would(lake, monkeypatch) -> None:
    combined: list[str] = []
    real = latest_module._combine

    def combine(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
        combined.append(new["dt"].iat[0])
        return real(old, new)

    monkeypatch.setattr(latest_module, "_combine", combine)
    zone = ProcessedZone(lake)
    zone.bars.put("2026-03-02", _rows(("AAA", 2, 1, 1.0), ("AAA", 2, 2, 2.0), ("BBB", 2, 5, 3.0)))
    zone.flush()
    held = update_latest(lake, zone.bars)
    # New keys only: AAA's newest (NULL vwap), BBB's first and newest around its stored
    # one, a new series CCC.
    zone.bars.append(
        "2026-03-02",
        _rows(("AAA", 2, 3, 7.0), ("BBB", 2, 0, 4.0), ("BBB", 2, 8, 8.0), ("CCC", 2, 9, 5.0)),
    )
    zone.flush()
    held = update_latest(lake, zone.bars, held)
    pd.testing.assert_frame_equal(stored(lake), expected_latest(lake))
    zone.bars.append("2026-03-03", _rows(("AAA", 3, 1, 6.0)))  # a new date: nothing held
    zone.flush()
    update_latest(lake, zone.bars, held)
    pd.testing.assert_frame_equal(stored(lake), expected_latest(lake))
    assert combined == ["2026-03-02", "2026-03-03"]
    rows = stored(lake).set_index(["symbol", "dt"])
    assert rows.loc[("AAA", "2026-03-02"), ["bar_count", "close", "day_open"]].tolist() == [
        3,
        7.0,
        0.5,
    ]
    assert math.isnan(rows.loc[("AAA", "2026-03-02"), "vwap"])
    assert rows.loc[("BBB", "2026-03-02"), ["bar_count", "close", "day_open"]].tolist() == [
        3,
        8.0,
        3.5,
    ]
    assert rows.loc[("BBB", "2026-03-02"), "first_ts"] == pd.Timestamp("2026-03-02 15:00", tz="UTC")
    assert rows.loc[("CCC", "2026-03-02"), "bar_count"] == 1


def test_a_crash_before_the_latest_write_is_repaired_by_the_replay(
    lake, sim_records, monkeypatch
) -> None:
    _, records = sim_records(["AAA"], 2, seed=1)
    first, second = records[:500], records[500:]
    Processor(lake).process(first)

    def crash(*_args: object) -> None:
        raise RuntimeError("killed after the bars were written")

    with monkeypatch.context() as patch:
        patch.setattr(engine, "update_latest", crash)
        with pytest.raises(RuntimeError):
            Processor(lake).process(second)
    assert not stored(lake).equals(expected_latest(lake))  # stale: the rows of before
    Processor(lake).process(second)  # the stream replays the uncheckpointed batch
    pd.testing.assert_frame_equal(stored(lake), expected_latest(lake))


def test_a_lake_without_the_table_gets_every_date_on_its_next_batch(lake, sim_records) -> None:
    _, records = sim_records(["AAA", "BBB"], 3, seed=2)
    Processor(lake).process(records[:-5])
    lake.delete(LATEST_FILE)  # a lake written before the table existed
    Processor(lake).process(records[-5:])  # touches the last session only
    assert sorted(set(stored(lake)["dt"])) == [
        d.isoformat() for d in (date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4))
    ]
    pd.testing.assert_frame_equal(stored(lake), expected_latest(lake))


def test_pending_dates_are_recomputed_from_the_files_then_forgotten(lake, sim_records) -> None:
    _, records = sim_records(["AAA"], 2, seed=5)
    Processor(lake).process(records)
    want = expected_latest(lake)
    # A Spark batch rewrote day two's bars but died before `flush_latest`.
    lake.write_parquet(LATEST_FILE, lake.read_parquet(LATEST_FILE).slice(0, 1))
    mark_latest_pending(lake, ["2026-03-03"])
    flush_latest(lake)  # what the next batch does first
    pd.testing.assert_frame_equal(stored(lake), want)
    assert not lake.exists(PENDING)
    flush_latest(lake)  # nothing pending: nothing to do
    pd.testing.assert_frame_equal(stored(lake), want)


def test_rebuild_equals_what_the_engine_kept(lake, sim_records, tmp_path) -> None:
    _, records = sim_records(["AAA", "BBB"], 2, seed=6)
    Processor(lake).process(records)
    kept = lake.read_bytes(LATEST_FILE)
    rebuild_latest(lake)
    assert lake.read_bytes(LATEST_FILE) == kept


def test_a_full_reprocess_deletes_the_table_first(lake) -> None:
    lake.write_parquet(LATEST_FILE, LATEST.arrow_schema().empty_table())
    engine.reprocess(lake)  # no raw records: nothing to rebuild it from
    assert not lake.exists(LATEST_FILE)
