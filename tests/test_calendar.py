"""calendar.py: the exchange's zone and the session arithmetic of the dashboard's windows.

Expected dates are read off a 2026 and a 2014 wall calendar: Thanksgiving 2026 is Thursday
November 26, US daylight saving time starts on March 8, 2026, and the bundled calendar
starts on 2015-01-02, so December 2014 is outside it and counts weekdays.
"""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from stockpipe import calendar
from stockpipe.calendar import (
    EXCHANGE_TZ,
    local_midnight,
    session_date,
    sessions_back,
    sessions_between,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "stockpipe"


def test_the_zone_is_new_york() -> None:
    assert EXCHANGE_TZ.key == "America/New_York"


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (datetime(2026, 3, 9, 3, 30, tzinfo=UTC), date(2026, 3, 8)),  # 23:30 EDT
        (datetime(2026, 3, 9, 4, 0, tzinfo=UTC), date(2026, 3, 9)),  # 00:00 EDT
        (datetime(2026, 1, 6, 4, 59, tzinfo=UTC), date(2026, 1, 5)),  # 23:59 EST
        (datetime(2026, 1, 6, 5, 0, tzinfo=UTC), date(2026, 1, 6)),  # 00:00 EST
    ],
    ids=["summer-before-midnight", "summer-midnight", "winter-before-midnight", "winter-midnight"],
)
def test_session_date_is_the_new_york_date(ts: datetime, expected: date) -> None:
    assert session_date(ts) == expected


def test_local_midnight_follows_daylight_saving() -> None:
    assert local_midnight(date(2026, 7, 1)) == datetime(2026, 7, 1, 4, tzinfo=UTC)
    assert local_midnight(date(2026, 1, 5)) == datetime(2026, 1, 5, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "count", "expected"),
    [
        (date(2026, 12, 7), 5, date(2026, 12, 1)),  # Monday: back over the weekend
        (date(2026, 12, 5), 1, date(2026, 12, 4)),  # a Saturday counts as Friday
        (date(2026, 11, 27), 2, date(2026, 11, 25)),  # skips Thanksgiving
        (date(2026, 12, 7), 0, date(2026, 12, 7)),  # at least the day's own session
        (date(2014, 12, 29), 2, date(2014, 12, 26)),  # before the calendar: weekdays
        (date(2014, 12, 27), 1, date(2014, 12, 26)),
    ],
    ids=["monday-5", "saturday-1", "thanksgiving", "count-0", "outside-2", "outside-saturday"],
)
def test_sessions_back(day: date, count: int, expected: date) -> None:
    assert sessions_back(day, count) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (datetime(2026, 12, 4, 15, tzinfo=UTC), datetime(2026, 12, 7, 15, tzinfo=UTC), 2),
        (datetime(2026, 11, 25, 15, tzinfo=UTC), datetime(2026, 11, 27, 15, tzinfo=UTC), 2),
        (datetime(2026, 12, 5, 15, tzinfo=UTC), datetime(2026, 12, 6, 15, tzinfo=UTC), 1),
        (datetime(2026, 12, 7, 15, tzinfo=UTC), datetime(2026, 12, 4, 15, tzinfo=UTC), 1),
        # outside the calendar, Christmas 2014 counts as a weekday
        (datetime(2014, 12, 24, 15, tzinfo=UTC), datetime(2014, 12, 29, 15, tzinfo=UTC), 4),
    ],
    ids=["over-a-weekend", "over-thanksgiving", "weekend-only", "reversed", "outside"],
)
def test_sessions_between(start: datetime, end: datetime, expected: int) -> None:
    assert sessions_between(start, end) == expected


def _module_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:  # module level only: lazy imports inside functions are the point
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_importing_the_calendar_stays_cheap() -> None:
    # `stockpipe status` and the dashboard's filters read the zone: no pandas, numpy or
    # pyarrow (through the contract) until a session is actually computed.
    heavy = {"pandas", "numpy", "exchange_calendars", "stockpipe.contract"}
    assert _module_imports(Path(calendar.__file__)) & heavy == set()


def test_the_exchange_zone_is_defined_only_in_the_calendar() -> None:
    literal_zones = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "ZoneInfo"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    )
    assert literal_zones == ["calendar.py"]
