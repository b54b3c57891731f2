"""Filter parsing and window resolution: every URL value is checked before any query."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stockpipe.dashboard.base import (
    FilterError,
    Filters,
    Window,
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
