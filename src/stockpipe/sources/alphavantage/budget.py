"""A request budget that survives restarts: N requests per rolling 24 hours, spaced out.

Alpha Vantage's free tier allows 25 requests a day and about one a second. The budget
keeps the time of every request of the last 24 hours in a small JSON file, so stopping
and restarting the poller cannot spend more than the daily allowance. A rolling window
is stricter than any calendar day the API may use, so it never exceeds it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from stockpipe.errors import ConfigError, SourceError

log = logging.getLogger("stockpipe.sources.alphavantage.budget")

DAY_SECONDS = 86400.0


class BudgetExhaustedError(SourceError):
    """The daily request budget is spent; `resume_at` says when the next request is allowed."""

    transient = True

    def __init__(self, message: str, resume_at: datetime) -> None:
        super().__init__(message)
        self.resume_at = resume_at


class RequestBudget:
    """`per_day` requests per rolling 24 h (0 = unlimited), at least `min_spacing` s apart.

    `clock` returns epoch seconds and `sleep` waits; both are injectable for tests.
    """

    def __init__(
        self,
        path: Path,
        per_day: int = 25,
        min_spacing: float = 1.2,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_day < 0:
            raise ConfigError(
                f"--requests-per-day {per_day} is negative: use 25 for a free key, "
                "your plan's allowance for a premium key, or 0 for no daily limit"
            )
        if min_spacing < 0:
            raise ConfigError(f"--min-spacing {min_spacing} is negative: use 1.2 or more")
        self.path = path
        self.per_day = per_day
        self.min_spacing = min_spacing
        self._clock = clock
        self._sleep = sleep

    # -- state file ----------------------------------------------------------

    def _load(self) -> list[float]:
        try:
            doc = json.loads(self.path.read_text())
            return sorted(float(t) for t in doc.get("requests", []))
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            # A corrupt file must not reset the allowance to zero: assume it is spent.
            raise SourceError(
                f"request budget file {self.path} is unreadable ({exc}); "
                "delete it only if you are sure no requests were made in the last 24 hours"
            ) from None

    def _save(self, times: list[float]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".tmp-{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"requests": times}))
        os.replace(tmp, self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise processes that share the budget file (e.g. two `ingest` commands)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+") as handle:
            try:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            except ImportError:  # pragma: no cover - not POSIX: best effort without a lock
                pass
            yield

    def _window(self, now: float) -> list[float]:
        return [t for t in self._load() if now - t < DAY_SECONDS]

    # -- public --------------------------------------------------------------

    def used(self) -> int:
        """Requests spent in the last 24 hours."""
        return len(self._window(self._clock()))

    def remaining(self) -> int | None:
        """Requests left right now, or None when there is no daily limit."""
        if not self.per_day:
            return None
        return max(self.per_day - self.used(), 0)

    def resume_at(self) -> datetime:
        """When the next request will be within the daily limit."""
        now = self._clock()
        window = self._window(now)
        if not self.per_day or len(window) < self.per_day:
            return datetime.fromtimestamp(now, UTC)
        oldest_needed = window[len(window) - self.per_day]
        return datetime.fromtimestamp(oldest_needed + DAY_SECONDS, UTC)

    def acquire(self) -> None:
        """Wait out the spacing, then record one request; raise if the day's budget is spent."""
        with self._locked():
            now = self._clock()
            window = self._window(now)
            if self.per_day and len(window) >= self.per_day:
                resume = datetime.fromtimestamp(
                    window[len(window) - self.per_day] + DAY_SECONDS, UTC
                )
                raise BudgetExhaustedError(
                    f"the request budget of {self.per_day} requests per 24 hours is used up; "
                    f"the next request is allowed at {resume:%Y-%m-%d %H:%M:%S} UTC "
                    "(raise --requests-per-day only with a premium key; meanwhile use "
                    "--source replay or --source simulator)",
                    resume,
                )
            if window:
                wait = window[-1] + self.min_spacing - now
                if wait > 0:
                    self._sleep(wait)
                    now = self._clock()
            window.append(now)
            self._save(window)
            log.debug("request budget: %d used in the last 24 h", len(window))
