"""Filter parsing and window resolution: every URL value is checked before any query."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stockpipe.dashboard.base import (
    FilterError,
    Filters,
    Window,
    can_roll_up,
    default_interval,
    parse_filters,
    resolve_window,
)

FIRST = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
LAST = datetime(2026, 1, 6, 16, 29, tzinfo=UTC)


def test_symbols_are_upper_cased_deduplicated_and_kept_in_order() -> None:
    f = parse_filters({"symbols": "msft, AAPL,msft,,brk.b"})
    assert f.symbols == ("MSFT", "AAPL", "BRK.B")
    assert f.window == "1d" and f.interval is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"symbols": "x' OR 1=1 --"}, 'symbol "x\' OR 1=1 --" is not a valid ticker'),
        ({"symbols": "AAPL,../etc"}, "symbol '../etc' is not a valid ticker"),
        ({"symbols": "<script>"}, "symbol '<script>' is not a valid ticker"),
        ({"interval": "1sec"}, "interval '1sec' is unknown"),
        ({"window": "1y"}, "window '1y' is unknown"),
        ({"window": "custom", "from": "2026-01-05T00:00:00Z"}, "needs both 'from' and 'to'"),
        (
            {"window": "custom", "from": "yesterday", "to": "2026-01-05T00:00:00Z"},
            "from='yesterday'",
        ),
        (
            {"window": "custom", "from": "2026-01-06T00:00:00Z", "to": "2026-01-05T00:00:00Z"},
            "is not before",
        ),
        ({"symbols": ",".join(f"S{i}" for i in range(21))}, "choose at most 20"),
    ],
    ids=[
        "sql-injection",
        "path",
        "html",
        "interval",
        "window",
        "custom-half",
        "bad-time",
        "reversed",
        "too-many",
    ],
)
def test_invalid_filters_name_the_value_and_the_fix(params: dict[str, str], message: str) -> None:
    with pytest.raises(FilterError, match=None) as info:
        parse_filters(params)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("window", "start"),
    [
        ("1h", datetime(2026, 1, 6, 15, 29, tzinfo=UTC)),
        # The session of the last bar: New York midnight, 05:00 UTC in January.
        ("1d", datetime(2026, 1, 6, 5, 0, tzinfo=UTC)),
        ("5d", FIRST),  # clipped to the first bar
        ("all", FIRST),
    ],
    ids=["1h", "1d", "5d", "all"],
)
def test_presets_end_at_the_last_bar(window: str, start: datetime) -> None:
    w = resolve_window(Filters(("AAPL",), "1min", window), FIRST, LAST)
    assert (w.start, w.end) == (start, LAST)


def test_custom_window_is_taken_as_given_and_naive_times_are_utc() -> None:
    f = parse_filters({"window": "custom", "from": "2026-01-05T15:00", "to": "2026-01-05T16:00Z"})
    w = resolve_window(f, FIRST, LAST)
    assert w.start == datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    assert w.end == datetime(2026, 1, 5, 16, 0, tzinfo=UTC)
    # Session-date bounds for partition pruning, with a day of slack each side.
    assert (w.from_dt, w.to_dt) == ("2026-01-04", "2026-01-06")


@pytest.mark.parametrize(
    ("hours", "interval", "seconds"),
    [
        (1, "1min", 300),
        (6.5, "1min", 900),
        (24, "1min", 1800),
        (24 * 30, "1min", 86400),
        (1, "60min", 3600),
    ],
    ids=["1h", "session", "day", "month", "hourly-bars"],
)
def test_bucket_size_keeps_at_most_48_buckets(hours: float, interval: str, seconds: int) -> None:
    start = datetime(2026, 1, 6, 0, 0, tzinfo=UTC)
    end = datetime.fromtimestamp(start.timestamp() + hours * 3600, UTC)
    assert Window(start, end).bucket_seconds(interval) == seconds


def test_five_sessions_on_a_monday_reach_back_over_the_weekend_and_a_holiday() -> None:
    # Mon Jan 5 2026: the 5 sessions are Dec 29, 30, 31, Jan 2 (Jan 1 is a holiday) and
    # Jan 5. Five calendar days would start on Dec 31 and show 2.5 sessions.
    last = datetime(2026, 1, 5, 20, 59, tzinfo=UTC)
    first = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)
    w = resolve_window(Filters(("AAPL",), "5m", "5d"), first, last)
    assert w.start == datetime(2025, 12, 29, 5, 0, tzinfo=UTC)  # Dec 29 00:00 EST
    month = resolve_window(Filters(("AAPL",), "1h", "1m"), first, last)
    # 21 sessions back from Jan 5: Dec 25 and Jan 1 are holidays, so Dec 4.
    assert month.start == datetime(2025, 12, 4, 5, 0, tzinfo=UTC)


def test_a_summer_session_starts_at_edt_midnight() -> None:
    last = datetime(2026, 7, 6, 19, 59, tzinfo=UTC)  # Mon Jul 6 (Jul 3 is the holiday)
    first = datetime(2026, 6, 1, 13, 30, tzinfo=UTC)
    w = resolve_window(Filters(("AAPL",), "5m", "5d"), first, last)
    # Jun 29, 30, Jul 1, 2 and Jul 6, from 00:00 EDT (UTC-4).
    assert w.start == datetime(2026, 6, 29, 4, 0, tzinfo=UTC)


def test_symbols_absent_means_defaults_and_empty_means_none() -> None:
    assert parse_filters({}).symbols is None
    assert parse_filters({"symbols": ""}).symbols == ()


@pytest.mark.parametrize(
    ("raw", "interval"),
    [("1m", "1m"), ("5m", "5m"), ("15m", "15m"), ("1h", "1h"), ("1d", "1d"), ("1min", "1m"),
     ("60min", "1h"), ("1day", "1d")],
)  # fmt: skip
def test_display_intervals_and_their_stored_aliases(raw: str, interval: str) -> None:
    assert parse_filters({"interval": raw}).interval == interval


def test_30min_is_not_a_display_interval() -> None:
    with pytest.raises(FilterError, match="use one of 1m, 5m, 15m, 1h, 1d"):
        parse_filters({"interval": "30min"})


@pytest.mark.parametrize(
    ("stored", "display", "ok"),
    [
        ("1min", "5m", True),
        ("1min", "1d", True),
        ("5min", "15m", True),
        ("5min", "1m", False),  # cannot split bars
        ("15min", "1h", True),
        ("30min", "15m", False),
        ("60min", "1d", True),
        ("1day", "1d", True),
        ("1day", "1h", False),
    ],
)
def test_which_stored_intervals_roll_up_to_which(stored: str, display: str, ok: bool) -> None:
    assert can_roll_up(stored, display) is ok


@pytest.mark.parametrize(
    ("window", "sessions", "interval"),
    [("1h", 1, "1m"), ("1d", 1, "1m"), ("5d", 5, "5m"), ("1m", 21, "1h"), ("all", 250, "1d")],
)
def test_default_interval_per_window(window: str, sessions: int, interval: str) -> None:
    assert default_interval(sessions, window) == interval


def test_buckets_count_trading_time_not_nights() -> None:
    # 5 sessions span a week of wall time (Mon 00:00 to Fri 16:00 = 112 h, 1 day buckets
    # by span alone) but only 32.5 h of trading: hourly buckets.
    w = Window(datetime(2026, 1, 5, 5, 0, tzinfo=UTC), datetime(2026, 1, 9, 21, 0, tzinfo=UTC))
    assert w.bucket_seconds("5m") == 86400
    assert w.bucket_seconds("5m", trading_seconds=5 * 6.5 * 3600) == 3600
