"""Alpha Vantage: the HTTP client and the response parsers (errors: errors.py).

Alpha Vantage answers errors with HTTP 200 and a body holding `Error Message`,
`Information` or `Note`, so every body is checked for those keys before any data is read.
Bodies are parsed in `parse.py`: one bad bar is one rejected bar, never a
refused response, and intraday labels (bar ends) become bar starts there.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import httpx

from stockpipe.errors import Backoff, ConfigError, SourceError, retry
from stockpipe.sources.alphavantage.budget import BudgetExhaustedError, RequestBudget
from stockpipe.sources.alphavantage.errors import (
    EXCHANGE_TZ,
    AlphaVantageError,
    BurstLimitError,
    DailyLimitError,
    InvalidKeyError,
    PremiumEndpointError,
    RateLimitError,
    SymbolError,
    TransportError,
    check_error_body,
    redact,
)
from stockpipe.sources.alphavantage.parse import (
    CSV_HEADER,
    RejectedBar,
    Series,
    infer_interval,
    json_line_of,
    local_to_utc,
    parse_csv_series,
    parse_json_series,
)

log = logging.getLogger("stockpipe.sources.alphavantage")

DEFAULT_BASE_URL = "https://www.alphavantage.co/query"
INTRADAY_INTERVALS = ("1min", "5min", "15min", "30min", "60min")
OUTPUT_SIZES = ("compact", "full")
DATATYPES = ("json", "csv")
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

__all__ = [
    "AlphaVantageClient",
    "AlphaVantageError",
    "BurstLimitError",
    "DailyLimitError",
    "InvalidKeyError",
    "PremiumEndpointError",
    "RateLimitError",
    "Series",
    "SymbolError",
    "TransportError",
    "parse_body",
    "redact",
    "CSV_HEADER",
    "RejectedBar",
    "infer_interval",
    "parse_csv_series",
    "parse_json_series",
]


# -- parsing (parse.py) -----------------------------------------------------------------


def _number(value: object, what: str) -> float:
    try:
        return float(str(value))
    except ValueError:
        raise SourceError(f"{what} {value!r} is not a number") from None


def parse_body(
    body: str,
    function: str,
    symbol: str,
    source: str,
    interval: str | None = None,
    key: str | None = None,
    where: str | None = None,
) -> Series:
    """A JSON or CSV body: refusals raise, data is parsed. CSV requests get JSON errors.

    `where` names the body in rejected bars' origins: a file ("ibm.csv") or, by default,
    the request ("TIME_SERIES_INTRADAY IBM 5min response").
    """
    where = where or f"{function} {symbol} {interval or ''} response".replace("  ", " ")
    stripped = body.lstrip("\ufeff \t\r\n")
    try:
        if stripped.startswith("{"):
            try:
                doc = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise SourceError(
                    f"{function} {symbol}: the response is not valid JSON ({exc})"
                ) from None
            check_error_body(doc, function, symbol, key)
            return parse_json_series(doc, source, interval, json_line_of(stripped, where))
        return parse_csv_series(stripped, symbol, interval, source, where=where)
    except (KeyError, IndexError, ValueError, OverflowError, RecursionError) as exc:
        # A garbled body (a missing column, a NaN volume, a year-9999 stamp) is a clear
        # SourceError naming the problem, never a traceback.
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise SourceError(
            f"{function} {symbol}: the response is malformed ({type(exc).__name__}: "
            f"{redact(what, key)}); save a complete TIME_SERIES_* response"
        ) from None


@dataclass(frozen=True)
class Quote:
    symbol: str
    price: float
    volume: int
    latest_trading_day: date
    previous_close: float


def parse_global_quote(doc: dict[str, object]) -> Quote:
    quote = doc.get("Global Quote")
    if not isinstance(quote, dict) or not quote:
        raise SymbolError(
            "GLOBAL_QUOTE returned no quote (an empty 'Global Quote': unknown symbol?)"
        )
    fields = {str(k).split(". ", 1)[-1].strip().lower(): str(v) for k, v in quote.items()}
    return Quote(
        symbol=fields["symbol"],
        price=_number(fields["price"], "price"),
        volume=int(_number(fields["volume"], "volume")),
        latest_trading_day=date.fromisoformat(fields["latest trading day"]),
        previous_close=_number(fields["previous close"], "previous close"),
    )


# -- the client ----------------------------------------------------------------------


def check_month(month: str) -> str:
    if not MONTH_RE.match(month) or month < "2000-01":
        raise ConfigError(f"--month {month!r} is invalid: use YYYY-MM, 2000-01 or later")
    return month


class AlphaVantageClient:
    """Requests go through the budget; 5xx, timeouts and connection errors are retried.

    Retries use exponential backoff with full jitter, capped at `max_backoff` seconds and
    `max_retries` attempts, so a dead server costs a bounded time and budget.
    """

    def __init__(
        self,
        api_key: str,
        budget: RequestBudget,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise ConfigError(
                "--source alphavantage needs an API key: set ALPHA_VANTAGE_API_KEY "
                "(free at https://www.alphavantage.co/support/#api-key)"
            )
        self._key = api_key
        self.budget = budget
        self.base_url = base_url
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    def get_text(self, params: dict[str, str]) -> str:
        """One API call (with its retries); returns the body text, HTTP errors raised."""
        function, symbol = params["function"], params.get("symbol", "")
        shown = redact(str(httpx.URL(self.base_url, params={**params, "apikey": "***"})))

        def attempt() -> str:
            self.budget.acquire()
            self.requests += 1
            log.info("GET %s", shown)
            try:
                resp = self._http.get(self.base_url, params={**params, "apikey": self._key})
            except httpx.TimeoutException:
                raise TransportError(
                    "timed out", function=function, symbol=symbol, url=shown
                ) from None
            except httpx.TransportError as exc:
                # httpx messages may carry the URL: keep only the class and redact the rest.
                reason = f"connection failed ({type(exc).__name__}: {redact(str(exc), self._key)})"
                raise TransportError(reason, function=function, symbol=symbol, url=shown) from None
            status = resp.status_code
            if status >= 500 or status == 429:
                raise TransportError(
                    f"HTTP {status}", status=status, function=function, symbol=symbol, url=shown
                )
            if status >= 400:
                raise SymbolError(
                    f"{function} for {symbol}: HTTP {status} from {shown}",
                    status=status,
                    function=function,
                    symbol=symbol,
                    url=shown,
                )
            return resp.text

        backoff = Backoff(
            base=self.backoff,
            cap=self.max_backoff,
            max_attempts=self.max_retries + 1,
            sleep=self._sleep,
        )
        try:
            return retry(
                attempt,
                f"{function} {symbol}",
                backoff,
                on_retry=lambda exc: log.warning("%s: %s; retrying", shown, exc),
            )
        except TransportError as exc:
            raise TransportError(
                f"{function} for {symbol} failed after {self.max_retries + 1} attempts: {exc} "
                f"({shown}); check ALPHA_VANTAGE_BASE_URL and the network",
                status=exc.status,
                function=function,
                symbol=symbol,
                url=shown,
            ) from None

    def intraday(
        self,
        symbol: str,
        interval: str = "5min",
        outputsize: str = "compact",
        month: str | None = None,
        adjusted: bool = True,
        extended_hours: bool = True,
        datatype: str = "json",
        source: str = "alphavantage",
    ) -> Series:
        params = {
            "function": "TIME_SERIES_INTRADAY",
            "symbol": symbol,
            "interval": interval,
            "outputsize": outputsize,
            "adjusted": str(adjusted).lower(),
            "extended_hours": str(extended_hours).lower(),
            "datatype": datatype,
        }
        if month:
            params["month"] = check_month(month)
        body = self.get_text(params)
        return parse_body(body, "TIME_SERIES_INTRADAY", symbol, source, interval, self._key)

    def daily(self, symbol: str, outputsize: str = "compact", datatype: str = "json") -> Series:
        params = {
            "function": "TIME_SERIES_DAILY",
            "symbol": symbol,
            "outputsize": outputsize,
            "datatype": datatype,
        }
        body = self.get_text(params)
        return parse_body(body, "TIME_SERIES_DAILY", symbol, "alphavantage", "1day", self._key)

    def global_quote(self, symbol: str) -> Quote:
        body = self.get_text({"function": "GLOBAL_QUOTE", "symbol": symbol, "datatype": "json"})
        try:
            doc = json.loads(body)
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"GLOBAL_QUOTE {symbol}: the response is not valid JSON ({exc})"
            ) from None
        check_error_body(doc, "GLOBAL_QUOTE", symbol, self._key)
        return parse_global_quote(doc)


__all__ += ["EXCHANGE_TZ", "BudgetExhaustedError", "Quote", "check_month", "local_to_utc"]
