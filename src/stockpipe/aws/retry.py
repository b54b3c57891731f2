"""One retry policy for AWS calls: capped exponential backoff with full jitter.

Throttling and 5xx replies are transient; everything else is raised at once.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

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
    """True for throttling, 5xx and connection failures; False for everything else."""
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)):
        return True
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in THROTTLING_CODES or code in TRANSIENT_CODES or int(status or 0) >= 500
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
        return bool(_ARROW_TRANSIENT_RE.search(str(exc)))
    return False


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


def with_backoff(
    fn: Callable[[], T],
    what: str,
    backoff: Backoff | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Call `fn`, retrying transient AWS errors up to `backoff.max_attempts` times.

    `what` names the operation for the error message. The last error is re-raised
    unchanged so callers can map it to a StockpipeError with their own context.
    """
    policy = backoff or Backoff()
    for attempt in range(policy.max_attempts):
        try:
            return fn()
        except Exception as exc:
            if not is_retryable(exc) or attempt == policy.max_attempts - 1:
                raise
            if on_retry is not None:
                on_retry(exc)
            policy.pause(attempt)
    raise AssertionError(f"unreachable: {what}")
