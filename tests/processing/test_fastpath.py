"""The widened fast path (issue 21 item 3): the first bars of a series, a young series and a
batch spanning several sessions are appended, and the tables hold what the general path
(engine `_merge` + `_recompute`) writes for the same batches."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from processing_factories import bar_record, read_table, simulate, snapshot

from stockpipe.contract import BARS, DAILY
from stockpipe.lake.local import LocalLake
from stockpipe.processing import engine
from stockpipe.processing.engine import Processor
from stockpipe.records import Bar
from stockpipe.stream.base import StreamRecord

OPEN = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # Monday 09:30 New York (EST)


def _run(lake: LocalLake, batches: Sequence[Sequence[StreamRecord]]) -> Processor:
    processor = Processor(lake)
    for batch in batches:
        processor.process(batch)
    return processor


def _general(
    lake: LocalLake, batches: Sequence[Sequence[StreamRecord]], monkeypatch: pytest.MonkeyPatch
) -> Processor:
    """The same batches with the fast path switched off: every series is merged and
    recomputed by the general path."""
    with monkeypatch.context() as patch:
        patch.setattr(engine, "append_batch", lambda *args: set())
        return _run(lake, batches)


def _bars(closes: Sequence[float], start: datetime, seq: int) -> list[StreamRecord]:
    """One-minute bars of NEW from `start` with these closes (open = close, high/low 0.5
    around it, volume 100, 200, ...), numbered from stream position `seq`."""
    out = []
    for i, c in enumerate(closes):
        ts = start + timedelta(minutes=i)
        bar = Bar("NEW", "1min", ts, c, c + 0.5, c - 0.5, c, 100 * (i + 1), "test")
        out.append(bar_record(bar, seq + i))
    return out


def test_a_batch_spanning_two_sessions_is_appended_as_the_general_path_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sim, records = simulate(["AAA", "BBB"], sessions=3, seed=7)
    ts = [json.loads(r.data)["ts"] for r in records]
    first = [r for r, t in zip(records, ts, strict=True) if t < "2026-03-03"]
    rest = [r for r, t in zip(records, ts, strict=True) if t >= "2026-03-03"]
    assert (len(first), len(rest)) == (2 * 390, 2 * 2 * 390)

    fast = _run(LocalLake(tmp_path / "fast"), [first, rest])
    general = _general(LocalLake(tmp_path / "general"), [first, rest], monkeypatch)
    assert (fast.fast_series, fast.general_series) == (4, 0)
    assert (general.fast_series, general.general_series) == (0, 4)
    assert snapshot(fast.lake) == snapshot(general.lake)  # type: ignore[arg-type]

    # The daily rows, worked out from the records: each day's change is against the
    # previous day's last close, across the batch boundary and inside the second batch.
    docs = pd.DataFrame([json.loads(r.data) for r in records if r.partition_key == "AAA"])
    docs["dt"] = docs["ts"].str[:10]
    last_close = docs.groupby("dt")["close"].last()
    daily = read_table(fast.lake, DAILY.prefix)  # type: ignore[arg-type]
    aaa = daily[daily["symbol"] == "AAA"].sort_values("dt").set_index("dt")
    assert list(aaa.index) == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert aaa["bar_count"].tolist() == [390, 390, 390]
    assert aaa["volume"].tolist() == docs.groupby("dt")["volume"].sum().tolist()
    assert aaa["close"].tolist() == last_close.tolist()
    assert pd.isna(aaa["change"].iloc[0])
    for day, before in (("2026-03-03", "2026-03-02"), ("2026-03-04", "2026-03-03")):
        change = last_close[day] - last_close[before]
        assert aaa.at[day, "change"] == change
        assert aaa.at[day, "change_pct"] == 100.0 * change / last_close[before]


def test_the_first_bars_of_a_series_are_appended_with_their_indicators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three bars on Monday and two on Tuesday, all in the series' first batch.
    batch = [
        *_bars([10.0, 11.0, 12.5], OPEN, 1),
        *_bars([12.0, 13.5], OPEN + timedelta(days=1), 4),
    ]
    fast = _run(LocalLake(tmp_path / "fast"), [batch])
    general = _general(LocalLake(tmp_path / "general"), [batch], monkeypatch)
    assert (fast.fast_series, fast.general_series) == (1, 0)
    assert snapshot(fast.lake) == snapshot(general.lake)  # type: ignore[arg-type]

    bars = read_table(fast.lake, BARS.prefix).sort_values("ts")  # type: ignore[arg-type]
    assert bars["dt"].tolist() == ["2026-03-02"] * 3 + ["2026-03-03"] * 2
    assert bars["_n"].tolist() == [0, 1, 2, 3, 4]
    assert bars["change"].tolist()[1:] == [1.0, 1.5, -0.5, 1.5]
    assert bars["sma_5"].tolist()[4] == (10.0 + 11.0 + 12.5 + 12.0 + 13.5) / 5
    # The session VWAP restarts on Tuesday: its first bar's typical price.
    assert bars["vwap"].tolist()[3] == 12.0
    assert bars["session_high"].tolist() == [10.5, 11.5, 13.0, 12.5, 14.0]
    daily = read_table(fast.lake, DAILY.prefix).sort_values("dt")  # type: ignore[arg-type]
    assert daily["close"].tolist() == [12.5, 13.5]
    assert daily["volume"].tolist() == [100 + 200 + 300, 100 + 200]
    assert pd.isna(daily["change"].iloc[0])
    assert daily["change"].iloc[1] == 1.0
    assert daily["change_pct"].iloc[1] == 100.0 * 1.0 / 12.5


def test_a_young_series_is_appended_from_its_first_stored_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 25 bars in batches of 10, 10 and 5: no resumable state (before bar 33) in any.
    closes = [10.0 + 0.25 * i for i in range(25)]
    records = _bars(closes, OPEN, 1)
    batches = [records[:10], records[10:20], records[20:]]
    fast = _run(LocalLake(tmp_path / "fast"), batches)
    general = _general(LocalLake(tmp_path / "general"), batches, monkeypatch)
    one = _run(LocalLake(tmp_path / "one"), [records])
    assert (fast.fast_series, fast.general_series) == (3, 0)
    assert general.general_series == 3
    assert snapshot(fast.lake) == snapshot(general.lake) == snapshot(one.lake)  # type: ignore[arg-type]

    bars = read_table(fast.lake, BARS.prefix).sort_values("ts")  # type: ignore[arg-type]
    assert bars["_n"].tolist() == list(range(25))
    # EMA(12) is seeded at bar 11 with the SMA of the first 12 closes: 136.5 / 12.
    assert bars["ema_12"].tolist()[11] == 11.375
    assert bars["ema_12"].isna().tolist()[:11] == [True] * 11
    assert bars["sma_20"].tolist()[19] == 12.375  # (20 * 10 + 0.25 * 190) / 20
    assert bars["rsi_14"].tolist()[14] == 100.0  # only gains so far
    daily = read_table(fast.lake, DAILY.prefix)  # type: ignore[arg-type]
    assert daily["bar_count"].tolist() == [25]
    assert daily["close"].tolist() == [16.0]
