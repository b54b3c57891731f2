"""AWS calls on the one retry policy (`stockpipe.errors.retry`): what is transient in AWS.

Throttling, 5xx replies and connection failures are transient; everything else is raised
at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from stockpipe.errors import Backoff, is_transient, retry

__all__ = ["Backoff", "error_code", "is_retryable", "is_throttling", "with_backoff"]

T = TypeVar("T")

# Error codes AWS documents as "slow down and retry".
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "SlowDown",
        "RequestThrottled",
        "TooManyRequestsException",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
        "KMSThrottlingException",
    }
)
# pyarrow's S3 filesystem raises OSError with the AWS C++ SDK's error text.
_ARROW_TRANSIENT_RE = re.compile(
    r"SLOW_DOWN|SlowDown|THROTTLING|Throttl|SERVICE_UNAVAILABLE|HTTP status 5\d\d|"
    r"INTERNAL_FAILURE|NETWORK_CONNECTION",
)


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


def is_throttling(exc: BaseException) -> bool:
    code = error_code(exc)
    if code in THROTTLING_CODES:
        return True
    return isinstance(exc, OSError) and bool(re.search(r"SLOW_DOWN|SlowDown|Throttl", str(exc)))


def is_retryable(exc: BaseException) -> bool:
    """True for throttling, 5xx, connection failures and our own transient errors."""
    if is_transient(exc):
        return True
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)):
        return True
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in THROTTLING_CODES or code in TRANSIENT_CODES or int(status or 0) >= 500
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
        return bool(_ARROW_TRANSIENT_RE.search(str(exc)))
    return False


def with_backoff(
    fn: Callable[[], T],
    what: str,
    backoff: Backoff | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Call `fn`, retrying transient AWS errors up to `backoff.max_attempts` times.

    The one retry helper (`stockpipe.errors.retry`) with the AWS view of "transient". The
    last error is re-raised unchanged so callers can map it to a StockpipeError with their
    own context.
    """
    return retry(fn, what, backoff, transient=is_retryable, on_retry=on_retry)
