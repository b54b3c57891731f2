"""The error hierarchy's `transient` marker drives the one retry helper; errors keep context."""

from __future__ import annotations

import random

import pytest

from stockpipe.errors import (
    Backoff,
    ConfigError,
    QueryError,
    SourceError,
    StreamBusyError,
    redact_url,
    retry,
)


def _flaky(errors: list[Exception]):  # type: ignore[no-untyped-def]
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"

    return call, calls


def test_transient_errors_are_retried_until_success() -> None:
    sleeps: list[float] = []
    call, calls = _flaky([StreamBusyError("busy"), StreamBusyError("busy")])
    backoff = Backoff(base=1.0, cap=3.0, sleep=sleeps.append, rng=random.Random(0))
    assert retry(call, "put", backoff) == "ok"
    assert len(calls) == 3
    # Full jitter: attempt n waits uniform(0, min(cap, base * 2**n)).
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0


def test_terminal_errors_are_raised_at_once() -> None:
    call, calls = _flaky([ConfigError("bad"), StreamBusyError("busy")])
    with pytest.raises(ConfigError):
        retry(call, "put", Backoff(sleep=lambda _: None))
    assert len(calls) == 1


def test_the_last_transient_error_is_raised_after_max_attempts() -> None:
    errors: list[Exception] = [StreamBusyError(f"busy {i}") for i in range(5)]
    call, calls = _flaky(errors)
    with pytest.raises(StreamBusyError, match="busy 2"):
        retry(call, "put", Backoff(max_attempts=3, sleep=lambda _: None))
    assert len(calls) == 3


def test_source_errors_carry_their_context_with_the_url_redacted() -> None:
    url = "https://www.alphavantage.co/query?function=TIME_SERIES_INTRADAY&apikey=SECRET42&x=1"
    exc = SourceError("refused", function="TIME_SERIES_INTRADAY", symbol="IBM", status=503, url=url)
    assert (exc.function, exc.symbol, exc.status) == ("TIME_SERIES_INTRADAY", "IBM", 503)
    assert exc.url == (
        "https://www.alphavantage.co/query?function=TIME_SERIES_INTRADAY&apikey=***&x=1"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://h/q?apikey=K1&symbol=IBM", "https://h/q?apikey=***&symbol=IBM"),
        ("wss://ws.finnhub.io?token=T0K", "wss://ws.finnhub.io?token=***"),
        ("https://h/q?symbol=IBM", "https://h/q?symbol=IBM"),
    ],
    ids=["apikey", "token", "nothing-secret"],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_query_errors_name_the_query_and_execution() -> None:
    exc = QueryError("failed", query="latest_bars", execution_id="abc-123")
    assert (exc.query, exc.execution_id, str(exc)) == ("latest_bars", "abc-123", "failed")
