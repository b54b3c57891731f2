"""Alpha Vantage: the HTTP client and the response parsers (errors: alphavantage_errors.py).

Alpha Vantage answers errors with HTTP 200 and a body holding `Error Message`,
`Information` or `Note`, so every body is checked for those keys before any data is read.
Every value arrives as a string. Timestamps are naive wall-clock times in the zone named by
`Meta Data` (US/Eastern), converted to UTC here, at the edge, and nowhere else.

Intraday timestamps label the START of each bar: with extended hours the series runs from
04:00 to 19:59 (1min) or 19:55 (5min) Eastern, so the labels are period starts.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from stockpipe.contract import INTERVAL_SECONDS, SYMBOL_RE
from stockpipe.errors import ConfigError, SourceError
from stockpipe.records import Bar
from stockpipe.sources.alphavantage_errors import (
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
from stockpipe.sources.budget import BudgetExhaustedError, RequestBudget

log = logging.getLogger("stockpipe.sources.alphavantage")

DEFAULT_BASE_URL = "https://www.alphavantage.co/query"
INTRADAY_INTERVALS = ("1min", "5min", "15min", "30min", "60min")
OUTPUT_SIZES = ("compact", "full")
DATATYPES = ("json", "csv")
CSV_HEADER = ("timestamp", "open", "high", "low", "close", "volume")
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
]


# -- parsing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One parsed response: bars oldest first, all timestamps UTC."""

    symbol: str
    interval: str
    bars: list[Bar]
    time_zone: str = "US/Eastern"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SourceError(f"unknown time zone {name!r} in the response's Meta Data") from None


def local_to_utc(text: str, zone: ZoneInfo, interval: str) -> datetime:
    """A naive exchange-local timestamp (or, for daily bars, a date) as UTC.

    Daily bars start at the 09:30 open. In the autumn's repeated hour the first (daylight)
    reading is taken (fold=0); US equity bars never fall in that 01:00-02:00 hour.
    """
    text = text.strip()
    try:
        if interval == "1day":
            day = date.fromisoformat(text[:10])
            naive = datetime(day.year, day.month, day.day, 9, 30)  # noqa: DTZ001 - zone next
        else:
            naive = datetime.fromisoformat(text)
    except ValueError:
        raise SourceError(f"timestamp {text!r} is not 'YYYY-MM-DD HH:MM:SS'") from None
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def _number(value: object, what: str) -> float:
    try:
        return float(str(value))
    except ValueError:
        raise SourceError(f"{what} {value!r} is not a number") from None


def _bar(symbol: str, interval: str, ts: datetime, row: dict[str, str], source: str) -> Bar:
    volume = _number(row["volume"], "volume")
    return Bar(
        symbol=symbol,
        interval=interval,
        ts=ts,
        open=_number(row["open"], "open"),
        high=_number(row["high"], "high"),
        low=_number(row["low"], "low"),
        close=_number(row["close"], "close"),
        volume=int(volume),
        source=source,
    )


def parse_json_series(doc: dict[str, object], source: str, interval: str | None = None) -> Series:
    """An intraday or daily time series response (`Meta Data` + `Time Series (...)`)."""
    meta = doc.get("Meta Data")
    series_key = next((k for k in doc if str(k).startswith("Time Series")), None)
    if not isinstance(meta, dict) or series_key is None:
        keys = ", ".join(map(str, doc)) or "none"
        raise SourceError(
            f"the response has no 'Meta Data' and 'Time Series (...)' (keys: {keys}); "
            "is it a TIME_SERIES_INTRADAY or TIME_SERIES_DAILY response?"
        )
    fields = {str(k).split(". ", 1)[-1].strip().lower(): v for k, v in meta.items()}
    symbol = str(fields.get("symbol", "")).strip().upper()
    if not SYMBOL_RE.match(symbol):
        raise SourceError(f"symbol {symbol!r} in Meta Data is not a valid ticker")
    label = series_key[series_key.find("(") + 1 : series_key.rfind(")")].strip()
    found = "1day" if label.lower() == "daily" else label
    found = str(fields.get("interval", found))
    if found not in INTERVAL_SECONDS:
        raise SourceError(
            f"interval {found!r} in the response is not one of {list(INTERVAL_SECONDS)}"
        )
    if interval and interval != found:
        raise ConfigError(f"--interval {interval} does not match the response's interval {found}")
    zone = _zone(str(fields.get("time zone", "US/Eastern")))
    rows = doc[series_key]
    if not isinstance(rows, dict):
        raise SourceError(f"'{series_key}' is not an object of timestamps")
    bars = []
    for stamp, values in rows.items():
        if not isinstance(values, dict):
            raise SourceError(f"bar {stamp!r} is not an object of values")
        row = {str(k).split(". ", 1)[-1].strip().lower(): str(v) for k, v in values.items()}
        bars.append(_bar(symbol, found, local_to_utc(stamp, zone, found), row, source))
    bars.sort(key=lambda b: b.ts)
    return Series(symbol, found, bars, zone.key)


def infer_interval(stamps: list[str]) -> str | None:
    """The interval of a CSV series, from the smallest gap between its timestamps."""
    if stamps and len(stamps[0].strip()) == 10:
        return "1day"
    times = sorted({datetime.fromisoformat(s.strip()) for s in stamps})
    gaps = {int((b - a).total_seconds()) for a, b in zip(times, times[1:], strict=False)}
    gaps.discard(0)
    if not gaps:
        return None
    smallest = min(gaps)
    return next((k for k, v in INTERVAL_SECONDS.items() if v == smallest), None)


def parse_csv_series(
    text: str, symbol: str, interval: str | None, source: str, tz: str = "US/Eastern"
) -> Series:
    """A `datatype=csv` response: header `timestamp,open,high,low,close,volume`."""
    if not SYMBOL_RE.match(symbol):
        raise ConfigError(f"--symbol {symbol!r} is invalid: use A-Z, 0-9, '.' and '-'")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple(h.strip().lower() for h in next(reader, []))
    if header[:6] != CSV_HEADER:
        raise SourceError(
            f"CSV header {','.join(header) or '(empty)'} is not {','.join(CSV_HEADER)}"
        )
    rows = [r for r in reader if r and any(c.strip() for c in r)]
    found = infer_interval([r[0] for r in rows])
    if interval is None:
        if found is None:
            raise ConfigError("cannot tell the CSV's bar interval: give --interval, e.g. 5min")
        interval = found
    elif found is not None and found != interval:
        raise ConfigError(f"--interval {interval} does not match the CSV's spacing ({found})")
    zone = _zone(tz)
    bars = [
        _bar(
            symbol,
            interval,
            local_to_utc(r[0], zone, interval),
            dict(zip(CSV_HEADER, r, strict=False)),
            source,
        )
        for r in rows
    ]
    bars.sort(key=lambda b: b.ts)
    return Series(symbol, interval, bars, zone.key)


def parse_body(
    body: str,
    function: str,
    symbol: str,
    source: str,
    interval: str | None = None,
    key: str | None = None,
) -> Series:
    """A JSON or CSV body: refusals raise, data is parsed. CSV requests get JSON errors."""
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
            return parse_json_series(doc, source, interval)
        return parse_csv_series(stripped, symbol, interval, source)
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

    def _delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))  # noqa: S311 - jitter, not crypto

    def get_text(self, params: dict[str, str]) -> str:
        """One API call (with its retries); returns the body text, HTTP errors raised."""
        function, symbol = params["function"], params.get("symbol", "")
        shown = redact(str(httpx.URL(self.base_url, params={**params, "apikey": "***"})))
        last = ""
        for attempt in range(self.max_retries + 1):
            self.budget.acquire()
            self.requests += 1
            log.info("GET %s", shown)
            try:
                resp = self._http.get(self.base_url, params={**params, "apikey": self._key})
            except httpx.TimeoutException:
                last = "timed out"
            except httpx.TransportError as exc:
                # httpx messages may carry the URL: keep only the class and redact the rest.
                last = f"connection failed ({type(exc).__name__}: {redact(str(exc), self._key)})"
            else:
                if resp.status_code < 500 and resp.status_code != 429:
                    if resp.status_code >= 400:
                        raise SymbolError(
                            f"{function} for {symbol}: HTTP {resp.status_code} from {shown}"
                        )
                    return resp.text
                last = f"HTTP {resp.status_code}"
            if attempt < self.max_retries:
                delay = self._delay(attempt)
                log.warning("%s: %s; retry %d in %.1f s", shown, last, attempt + 1, delay)
                self._sleep(delay)
        raise TransportError(
            f"{function} for {symbol} failed after {self.max_retries + 1} attempts: {last} "
            f"({shown}); check ALPHA_VANTAGE_BASE_URL and the network"
        )

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
