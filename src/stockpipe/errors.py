"""The one error hierarchy, and the one retry policy its `transient` marker drives.

Every message names the bad value and the fix. A `transient` error may succeed when
retried (a busy database, a throttled or failing API): `retry` retries exactly those,
with capped exponential backoff, and re-raises anything else at once. Terminal errors
reach the CLI, which reports them as one line.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

# Query parameters that carry credentials (Alpha Vantage's apikey, Finnhub's token).
_SECRET_PARAM_RE = re.compile(
    r"((?:apikey|api_key|token|secret|password|signature)=)[^&\s\"']*", re.IGNORECASE
)


def redact_url(url: str) -> str:
    """The URL with the value of every credential parameter replaced by `***`."""
    return _SECRET_PARAM_RE.sub(r"\1***", url)


class StockpipeError(Exception):
    """Root of every error stockpipe raises on purpose."""

    transient: bool = False
    exit_code: int = 1


class ConfigError(StockpipeError):
    """A setting or argument is missing or invalid."""

    exit_code = 2


class StreamError(StockpipeError):
    """The stream refused or failed an operation."""


class StreamLimitError(StreamError):
    """A PutRecords call broke one of the Kinesis limits."""


class ExpiredIteratorError(StreamError):
    """A shard iterator is older than five minutes (Kinesis semantics)."""


class StreamBusyError(StreamError):
    """The stream store is locked or throttled; retrying may succeed."""

    transient = True


class CheckpointError(StreamError):
    """A consumer checkpoint is unreadable, or belongs to another stream than the one read."""


class ConsumerBusyError(StreamError):
    """Another process already runs the consumer of that name on that lake."""


class LakeError(StockpipeError):
    """Reading or writing the data lake failed."""


class UnsafePathError(LakeError):
    """A path built from input would escape the lake root."""


class SourceError(StockpipeError):
    """A market-data source failed; says for which call, symbol, HTTP status and URL.

    The URL is stored redacted, so the error can be logged or shown as it is.
    """

    def __init__(
        self,
        message: str,
        *,
        function: str | None = None,
        symbol: str | None = None,
        status: int | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.function = function
        self.symbol = symbol
        self.status = status
        self.url = redact_url(url) if url is not None else None


class QueryError(StockpipeError):
    """A SQL query failed; says which named query and which engine execution (Athena)."""

    def __init__(
        self, message: str, *, query: str | None = None, execution_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.query = query
        self.execution_id = execution_id


# -- retrying ----------------------------------------------------------------------------


def is_transient(exc: BaseException) -> bool:
    """Whether retrying may help: the error says so with its `transient` marker."""
    return isinstance(exc, StockpipeError) and exc.transient


@dataclass
class Backoff:
    """Delays for attempt 1, 2, ...: uniform(0, min(cap, base * 2**n)) ("full jitter")."""

    base: float = 0.1
    cap: float = 5.0
    max_attempts: int = 8
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        return self.rng.uniform(0, min(self.cap, self.base * 2**attempt))

    def pause(self, attempt: int) -> None:
        self.sleep(self.delay(attempt))


def retry(
    fn: Callable[[], T],
    what: str,
    backoff: Backoff | None = None,
    transient: Callable[[BaseException], bool] = is_transient,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Call `fn`, retrying errors that `transient` accepts, up to `backoff.max_attempts` times.

    `what` names the operation. The last error is re-raised unchanged, so callers can
    add their own context; a terminal error is re-raised at once.
    """
    policy = backoff or Backoff()
    for attempt in range(policy.max_attempts):
        try:
            return fn()
        except Exception as exc:
            if not transient(exc) or attempt == policy.max_attempts - 1:
                raise
            if on_retry is not None:
                on_retry(exc)
            policy.pause(attempt)
    raise AssertionError(f"unreachable: {what}")
