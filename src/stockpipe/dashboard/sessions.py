"""Exchange sessions for the dashboard's windows: "5 days" means 5 trading sessions.

The NYSE calendar (`stockpipe.calendar`, from `exchange_calendars`) knows weekends,
holidays and early closes, so a window of N sessions on a Monday reaches back to the
Monday before, not to Thursday. Dates outside the calendar's range fall back to weekdays,
so an odd lake date degrades to a slightly wrong window instead of an error page.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from stockpipe.dashboard.base import EXCHANGE_TZ

# A regular session, 09:30-16:00 New York time: the trading time one session contributes.
SESSION_SECONDS = 6.5 * 3600


def _calendar():  # type: ignore[no-untyped-def]
    from stockpipe.calendar import nyse

    return nyse()


def session_of(ts: datetime) -> date:
    """The New York date of a bar time (the `dt` partition of the bar)."""
    return ts.astimezone(EXCHANGE_TZ).date()


def sessions_back(day: date, count: int) -> date:
    """The session `count - 1` sessions before `day` (itself when count is 1).

    `day` need not be a session: a Saturday bar counts as Friday's session.
    """
    import pandas as pd

    count = max(1, count)
    try:
        cal = _calendar()
        ts = pd.Timestamp(day)
        if cal.first_session <= ts <= cal.last_session:
            last = cal.date_to_session(ts, direction="previous")
            idx = int(cal.sessions.get_loc(last))
            return cal.sessions[max(0, idx - (count - 1))].date()  # type: ignore[no-any-return]
    except (ImportError, KeyError, ValueError):
        pass
    # Outside the calendar: count weekdays instead.
    current = day
    while current.weekday() >= 5:
        current -= timedelta(days=1)
    for _ in range(count - 1):
        current -= timedelta(days=1)
        while current.weekday() >= 5:
            current -= timedelta(days=1)
    return current


def sessions_between(start: datetime, end: datetime) -> int:
    """How many sessions have a date in [start, end] (New York dates), at least 1."""
    import pandas as pd

    first, last = session_of(start), session_of(end)
    try:
        cal = _calendar()
        lo, hi = pd.Timestamp(first), pd.Timestamp(last)
        if cal.first_session <= lo and hi <= cal.last_session:
            return max(1, len(cal.sessions_in_range(lo, hi)))
    except (ImportError, KeyError, ValueError):
        pass
    days = (last - first).days + 1
    weekdays = sum(1 for i in range(days) if (first + timedelta(days=i)).weekday() < 5)
    return max(1, weekdays)


def local_midnight(day: date) -> datetime:
    """00:00 New York time on `day`, in UTC: where a session's window starts.

    From midnight rather than the 09:30 open, so pre-market bars of the day are included.
    """
    return datetime(day.year, day.month, day.day, tzinfo=EXCHANGE_TZ).astimezone(UTC)
