"""The exchange (NYSE), defined once: its zone, its session dates and its sessions.

Everything comes from the maintained `exchange_calendars` package (holidays, early
closes). It, pandas and pyarrow (through the contract) are loaded on first use, since they
take a second and the zone is wanted by light modules (`stockpipe status`, the dashboard).
Processing uses the vectorised `session_dates` and `session_of`; sources and the
simulator use the per-day helpers; the dashboard counts its windows in sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from stockpipe.errors import ConfigError

if TYPE_CHECKING:
    import exchange_calendars as xcals
    import numpy as np
    import pandas as pd

EXCHANGE = "XNYS"
# Every exchange-local time (session dates, the status clock, Alpha Vantage's US/Eastern).
EXCHANGE_TZ = ZoneInfo("America/New_York")
# Fixed, so the calendar (and the simulator's price history) never moves with today's date.
CALENDAR_START = "2015-01-02"
# The session classifier reaches back to cleaning's earliest accepted bar (1990) and two
# years ahead: a day's sessions never depend on where the calendar ends, so the labels
# are the same whenever they are computed; days past the end count as closed.
_SCHEDULE_START = "1990-01-02"


@lru_cache(maxsize=1)
def nyse() -> xcals.ExchangeCalendar:
    import exchange_calendars as xcals

    return xcals.get_calendar(EXCHANGE, start=CALENDAR_START)


@lru_cache(maxsize=1)
def _schedule() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(session days as datetime64[D], regular open and close as int64 ns UTC), sorted."""
    import exchange_calendars as xcals
    import pandas as pd

    end = f"{datetime.now(UTC).year + 2}-12-31"
    sched = xcals.get_calendar(EXCHANGE, start=_SCHEDULE_START, end=end).schedule
    days = sched.index.to_numpy().astype("datetime64[D]")
    opens = pd.DatetimeIndex(sched["open"]).as_unit("ns").asi8
    closes = pd.DatetimeIndex(sched["close"]).as_unit("ns").asi8
    return days, opens, closes


def _utc_index(ts: pd.Series | pd.DatetimeIndex | Sequence[object]) -> pd.DatetimeIndex:
    """`ts` as a UTC DatetimeIndex. A column that is already UTC is wrapped as it is:
    `pd.to_datetime(..., utc=True)` would still walk it as Python objects (issue 21)."""
    import pandas as pd

    dtype = getattr(ts, "dtype", None)
    if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC":
        return pd.DatetimeIndex(ts)
    return pd.DatetimeIndex(pd.to_datetime(ts, utc=True))


def _local_days(stamps: pd.DatetimeIndex) -> np.ndarray:
    # The local wall-clock time (the zone's offset applied per timestamp, so DST is
    # exact) truncated to whole days by numpy, without strftime.
    local = stamps.tz_convert(EXCHANGE_TZ).tz_localize(None)
    days: np.ndarray = local.to_numpy().astype("datetime64[D]")
    return days


def session_dates(ts: pd.Series | pd.DatetimeIndex | Sequence[object]) -> np.ndarray:
    """The exchange-local calendar date (YYYY-MM-DD, object array of str) of UTC times.

    This is the `dt` partition of bars and daily: the session day of pre, regular and
    post bars alike (04:00-20:00 New York time never crosses midnight).
    """
    stamps = _utc_index(ts)
    return _local_days(stamps).astype(str).astype(object)


def session_of(ts: pd.Series | pd.DatetimeIndex | Sequence[object], interval: str) -> np.ndarray:
    """The session of each bar (object array of contract.SESSIONS labels).

    A bar [ts, ts + interval) on a trading day is `regular` if any part of it lies in the
    regular session [open, close) (early closes included), so a 60-minute bar from 09:00
    and a daily bar count as regular; `pre` if it ends by the open; `post` if it starts
    at or after the close. A bar on a day with no session (weekend, holiday) is `closed`.
    """
    import numpy as np

    from stockpipe.contract import INTERVAL_SECONDS

    stamps = _utc_index(ts)
    start = stamps.as_unit("ns").asi8
    end = start + INTERVAL_SECONDS[interval] * 1_000_000_000
    days, opens, closes = _schedule()
    local = _local_days(stamps)
    idx = np.minimum(np.searchsorted(days, local), len(days) - 1)
    trading = days[idx] == local
    open_ns, close_ns = opens[idx], closes[idx]
    out = np.full(len(start), "closed", dtype=object)
    out[trading & (end <= open_ns)] = "pre"
    out[trading & (start >= close_ns)] = "post"
    out[trading & (start < close_ns) & (end > open_ns)] = "regular"
    return out


def _check(day: date) -> pd.Timestamp:
    import pandas as pd

    cal = nyse()
    ts = pd.Timestamp(day)
    if ts < cal.first_session or ts > cal.last_session:
        raise ConfigError(
            f"date {day} is outside the exchange calendar "
            f"({cal.first_session.date()} to {cal.last_session.date()})"
        )
    return ts


def is_session(day: date) -> bool:
    return bool(nyse().is_session(_check(day)))


def sessions_from(start: date, count: int) -> list[date]:
    """The first `count` sessions on or after `start`."""
    cal = nyse()
    first = cal.date_to_session(_check(start), direction="next")
    idx = cal.sessions.get_loc(first)
    found = cal.sessions[idx : idx + count]
    if len(found) < count:
        raise ConfigError(f"the calendar has only {len(found)} sessions from {start}")
    return [s.date() for s in found]


def recent_completed_sessions(count: int, now: datetime | None = None) -> list[date]:
    """The `count` most recent sessions that have closed by `now`."""
    import pandas as pd

    cal = nyse()
    now = now or datetime.now(UTC)
    minute = pd.Timestamp(now).floor("min")
    closes = cal.schedule["close"]
    done = closes[closes <= minute]
    if len(done) < count:
        raise ConfigError(f"only {len(done)} completed sessions are known before {now}")
    return [ts.date() for ts in done.index[-count:]]


def session_bounds(day: date) -> tuple[datetime, datetime]:
    """(open, close) of a session as UTC datetimes; early closes included."""
    cal = nyse()
    ts = _check(day)
    if not cal.is_session(ts):
        raise ConfigError(f"{day} is not a trading session of {EXCHANGE}")
    return (
        cal.session_open(ts).to_pydatetime().astimezone(UTC),
        cal.session_close(ts).to_pydatetime().astimezone(UTC),
    )


def next_session(day: date) -> date:
    session: date = nyse().next_session(_check(day)).date()
    return session


def session_index(day: date) -> int:
    """Position of a session since CALENDAR_START."""
    return int(nyse().sessions.get_loc(_check(day)))


# -- the dashboard's windows: counted in sessions, falling back to weekdays -----------------

# A regular session, 09:30-16:00 New York time: the trading time one session contributes.
SESSION_SECONDS = 6.5 * 3600


def session_date(ts: datetime) -> date:
    """The exchange-local date of an aware time: the `dt` partition of a bar at `ts`."""
    return ts.astimezone(EXCHANGE_TZ).date()


def local_midnight(day: date) -> datetime:
    """00:00 exchange time on `day`, in UTC: where a session's window starts, so that the
    day's pre-market bars are included."""
    return datetime(day.year, day.month, day.day, tzinfo=EXCHANGE_TZ).astimezone(UTC)


def _in_calendar(*days: date) -> bool:
    cal = nyse()
    return all(cal.first_session.date() <= day <= cal.last_session.date() for day in days)


def _last_weekday(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def sessions_back(day: date, count: int) -> date:
    """The session `count - 1` sessions before `day` (itself when count is 1).

    `day` need not be a session: a Saturday bar counts as Friday's session. Outside the
    calendar's range it counts weekdays, so an odd lake date degrades to a slightly wrong
    window instead of an error.
    """
    count = max(1, count)
    if _in_calendar(day):
        import pandas as pd

        cal = nyse()
        last = cal.date_to_session(pd.Timestamp(day), direction="previous")
        idx = int(cal.sessions.get_loc(last))
        first: date = cal.sessions[max(0, idx - (count - 1))].date()
        return first
    current = _last_weekday(day)
    for _ in range(count - 1):
        current = _last_weekday(current - timedelta(days=1))
    return current


def sessions_between(start: datetime, end: datetime) -> int:
    """How many sessions have an exchange-local date in [start, end], at least 1 (weekdays
    outside the calendar's range)."""
    first, last = session_date(start), session_date(end)
    if _in_calendar(first, last):
        import pandas as pd

        return max(1, len(nyse().sessions_in_range(pd.Timestamp(first), pd.Timestamp(last))))
    days = (last - first).days + 1
    return max(1, sum(1 for i in range(days) if (first + timedelta(days=i)).weekday() < 5))
