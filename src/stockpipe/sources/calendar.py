"""Exchange sessions (NYSE), from the maintained `exchange_calendars` package."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

from stockpipe.errors import ConfigError

EXCHANGE = "XNYS"
EXCHANGE_TZ = "America/New_York"
# Fixed, so the calendar (and the simulator's price history) never moves with today's date.
CALENDAR_START = "2015-01-02"


@lru_cache(maxsize=1)
def nyse() -> xcals.ExchangeCalendar:
    return xcals.get_calendar(EXCHANGE, start=CALENDAR_START)


def _check(day: date) -> pd.Timestamp:
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
    cal = nyse()
    return cal.next_session(_check(day)).date()


def session_index(day: date) -> int:
    """Position of a session since CALENDAR_START."""
    return int(nyse().sessions.get_loc(_check(day)))
