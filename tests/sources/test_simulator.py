"""The market simulator: deterministic, on real NYSE sessions, with countable faults."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from stockpipe import calendar
from stockpipe.contract import SYMBOL_RE
from stockpipe.errors import ConfigError
from stockpipe.sources.simulator import MarketSimulator, session_bars


def payloads(sim: MarketSimulator) -> list[bytes]:
    return [data for batch in sim.batches() for _, data in batch]


def test_same_seed_same_bars_and_other_seed_other_bars() -> None:
    days = [date(2026, 11, 23), date(2026, 11, 24)]
    a = payloads(MarketSimulator(["AAPL", "MSFT"], days, seed=7))
    b = payloads(MarketSimulator(["AAPL", "MSFT"], days, seed=7))
    c = payloads(MarketSimulator(["AAPL", "MSFT"], days, seed=8))
    assert a == b
    assert a != c
    assert len(a) == 2 * 2 * 390


def test_a_session_is_identical_whatever_window_produced_it() -> None:
    wide = MarketSimulator(["NVDA"], calendar.sessions_from(date(2026, 11, 17), 5), seed=3)
    narrow = MarketSimulator(["NVDA"], [date(2026, 11, 20)], seed=3)
    wide_bars = [json.loads(p) for p in payloads(wide)]
    narrow_bars = [json.loads(p) for p in payloads(narrow)]
    assert [b for b in wide_bars if b["ts"].startswith("2026-11-20")] == narrow_bars


def test_holidays_are_skipped_and_early_closes_are_short() -> None:
    # Thanksgiving 2026 is Thursday 26 November; Friday 27 closes at 13:00 New York time.
    assert calendar.sessions_from(date(2026, 11, 25), 3) == [
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 11, 30),
    ]
    assert not calendar.is_session(date(2026, 11, 26))
    assert not calendar.is_session(date(2026, 11, 28))  # Saturday
    friday = session_bars(1, "AAPL", date(2026, 11, 27))
    assert len(friday) == 210  # 09:30-13:00
    assert friday.start == datetime(2026, 11, 27, 14, 30, tzinfo=UTC)  # EST = UTC-5
    summer = session_bars(1, "AAPL", date(2026, 7, 1))
    assert len(summer) == 390
    assert summer.start == datetime(2026, 7, 1, 13, 30, tzinfo=UTC)  # EDT = UTC-4
    assert summer.bar(389).ts == datetime(2026, 7, 1, 19, 59, tzinfo=UTC)


def test_recent_completed_sessions_excludes_a_session_still_open() -> None:
    during = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday, market open
    assert calendar.recent_completed_sessions(2, during) == [date(2026, 11, 27), date(2026, 11, 30)]
    after = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    assert calendar.recent_completed_sessions(1, after) == [date(2026, 12, 1)]


def test_bars_are_valid_ohlcv_with_a_u_shaped_volume() -> None:
    sb = session_bars(5, "TSLA", date(2026, 11, 24))
    for i in range(len(sb)):
        bar = sb.bar(i)
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.low > 0 and bar.volume > 0 and bar.interval == "1min"
    vol = sb.volume
    edges = vol[:30].mean() + vol[-30:].mean()
    middle = vol[180:210].mean()
    assert edges / 2 > 1.5 * middle


def test_fault_counts_are_reported_and_reproducible() -> None:
    days = [date(2026, 11, 23), date(2026, 11, 24)]
    sim = MarketSimulator(["AAPL", "MSFT", "JPM"], days, seed=11, fault_rate=0.05)
    out = payloads(sim)
    f = sim.faults
    bars = 3 * 2 * 390
    assert len(out) == bars + f.duplicates + f.malformed
    assert f.duplicates > 0 and f.malformed > 0 and f.out_of_order > 0
    assert sum(f.kinds.values()) == f.malformed
    again = MarketSimulator(["AAPL", "MSFT", "JPM"], days, seed=11, fault_rate=0.05)
    assert payloads(again) == out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": ["aapl"]}, "symbol 'aapl' is invalid"),
        ({"symbols": ["../etc"]}, "symbol '../etc' is invalid"),
        ({"fault_rate": 0.9}, "--fault-rate 0.9 is out of range"),
        ({"speed": 0}, "--speed 0 must be positive"),
    ],
    ids=["lowercase", "path-traversal", "fault-rate", "speed"],
)
def test_bad_arguments_are_config_errors(kwargs, message: str) -> None:
    args = {"symbols": ["AAPL"], "sessions": [date(2026, 11, 24)], **kwargs}
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        MarketSimulator(**args)


def test_default_symbols_are_valid() -> None:
    from stockpipe.config import DEFAULT_SYMBOLS

    assert all(SYMBOL_RE.match(s) for s in DEFAULT_SYMBOLS)
    assert DEFAULT_SYMBOLS == ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM")
