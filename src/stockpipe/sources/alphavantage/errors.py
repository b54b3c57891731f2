"""Alpha Vantage refusals: the error taxonomy, their classification, and key redaction.

Alpha Vantage answers errors with HTTP 200 and a body holding `Error Message`,
`Information` or `Note`. `check_error_body` turns such a body into an error that says what
happened and what to do; the key is redacted from every message, since the API's own
rate-limit text echoes it.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from stockpipe.calendar import EXCHANGE_TZ
from stockpipe.errors import SourceError

ALTERNATIVES = "use --source replay with saved responses, or --source simulator"

# -- errors --------------------------------------------------------------------


class AlphaVantageError(SourceError):
    """An Alpha Vantage request was refused or failed."""


class InvalidKeyError(AlphaVantageError):
    """The API key is missing or invalid: nothing will work until it is fixed."""

    exit_code = 2


class SymbolError(AlphaVantageError):
    """The call was invalid for this symbol (unknown symbol, bad parameters)."""


class PremiumEndpointError(AlphaVantageError):
    """The endpoint or parameter needs a premium plan."""


class RateLimitError(AlphaVantageError):
    """The API refused the call for its rate limit; retry at `resume_at`."""

    transient = True

    def __init__(self, message: str, resume_at: datetime) -> None:
        super().__init__(message)
        self.resume_at = resume_at


class DailyLimitError(RateLimitError):
    """The key's daily allowance is spent."""


class BurstLimitError(RateLimitError):
    """Requests came too fast (the per-second or per-minute limit)."""


class TransportError(AlphaVantageError):
    """HTTP 5xx, a timeout or a connection error, still failing after the retries."""

    transient = True


# -- redaction -------------------------------------------------------------------

_APIKEY_RE = re.compile(r"(apikey=)[^&\s\"']*", re.IGNORECASE)


def redact(text: str, key: str | None = None) -> str:
    """Hide the key in any text: `apikey=...` in URLs, and the bare key anywhere."""
    text = _APIKEY_RE.sub(r"\1***", text)
    if key:
        text = text.replace(key, "***")
    return text


class RedactKeyFilter(logging.Filter):
    """Rewrites log records that carry `apikey=...` (httpx logs every request URL at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "apikey=" in message.lower():
            record.msg, record.args = redact(message), None
        return True


_REDACT = RedactKeyFilter()
# A logger's filters do not apply to its children, and httpcore logs (at DEBUG, with the
# response headers) from httpcore.http11 and friends, so each one gets the filter.
_HTTP_LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2")
for _name in (*_HTTP_LOGGERS, "httpcore.proxy", "httpcore.socks"):
    if _REDACT not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_REDACT)


def check_error_body(doc: object, function: str, symbol: str, key: str | None = None) -> None:
    """Raise the right error if an HTTP 200 body is an Alpha Vantage refusal."""
    if not isinstance(doc, dict):
        raise SourceError(f"{function} {symbol}: the response is not a JSON object")
    for field in ("Error Message", "Information", "Note"):
        if field in doc:
            raise classify(field, str(doc[field]), function, symbol, key)


_BURST_WORDS = ("sparingly", "per second", "per minute", "frequency")


def classify(field: str, text: str, function: str, symbol: str, key: str | None) -> SourceError:
    """Map one refusal text to an error that says what happened and what to do."""
    shown = redact(text, key)
    low = text.lower()
    now = datetime.now(UTC)
    is_rate = any(w in low for w in (*_BURST_WORDS, "rate limit", "per day"))
    if "apikey" in low.replace(" ", "") and ("invalid" in low or "missing" in low):
        return InvalidKeyError(
            f"Alpha Vantage rejected the API key ({shown}); set ALPHA_VANTAGE_API_KEY to a "
            "valid key (free at https://www.alphavantage.co/support/#api-key)"
        )
    if "demo" in low and "api key" in low:
        return InvalidKeyError(
            "Alpha Vantage says the demo key only works for its documentation examples; "
            "set ALPHA_VANTAGE_API_KEY to your own key"
        )
    if "premium endpoint" in low or ("premium" in low and not is_rate):
        return PremiumEndpointError(
            f"{function} for {symbol} is a premium Alpha Vantage endpoint or option, which this "
            f"key cannot use ({shown}); {ALTERNATIVES}"
        )
    if field == "Error Message":
        return SymbolError(
            f"Alpha Vantage refused {function} for {symbol}: {shown} "
            "(check the symbol and the options)"
        )
    # The burst message also mentions the daily allowance, so it is recognised first.
    if field == "Note" or any(w in low for w in _BURST_WORDS):
        resume = now + timedelta(seconds=60)
        return BurstLimitError(
            f"Alpha Vantage's per-second/per-minute request limit is reached ({shown}); "
            f"retrying after {resume:%H:%M:%S} UTC",
            resume,
        )
    if is_rate or "daily" in low:
        resume = next_eastern_midnight(now)
        return DailyLimitError(
            f"Alpha Vantage's daily request limit for this key is reached ({shown}); "
            f"polling resumes at {resume:%Y-%m-%d %H:%M} UTC; meanwhile {ALTERNATIVES}",
            resume,
        )
    return AlphaVantageError(f"Alpha Vantage refused {function} for {symbol}: {shown}")


def next_eastern_midnight(now: datetime) -> datetime:
    """Alpha Vantage does not say when the daily count resets: assume midnight US/Eastern."""
    local = now.astimezone(EXCHANGE_TZ)
    tomorrow = local.date() + timedelta(days=1)
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=EXCHANGE_TZ)
    return midnight.astimezone(UTC)
