"""Alpha Vantage response bodies (JSON and CSV) -> bars, one bad bar at a time.

Every value arrives as a string. Each is read the way a JSON stream record is read
(`"1234"` an integer, `"1234.75"` a float, `"NaN"` NaN, `"abc"` a string) and the bar is then
judged by the same `processing.cleaning.validate` the process stage runs, so a value is
treated the same on every path. A bar that fails is not dropped and does not sink its
file: it becomes a `RejectedBar`, sent on through the stream with its values as found and
its origin (file and line, or request), and the process stage quarantines it.

Timestamps are naive wall-clock times in the zone named by `Meta Data` (US/Eastern),
converted to UTC here, at the edge, and nowhere else. Intraday labels are bar ENDS (see
docs/alphavantage.md, "Timestamps"): `ts` is the bar start, so one interval is taken off.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stockpipe.contract import INTERVAL_SECONDS, SCHEMA_VERSION, SYMBOL_RE
from stockpipe.errors import ConfigError, SourceError
from stockpipe.processing.cleaning import ORIGIN_FIELD, Rejected, validate
from stockpipe.records import Bar, format_ts

#: Header names Alpha Vantage has used for the time column of its CSV responses:
#: `timestamp` (TIME_SERIES_INTRADAY/DAILY with datatype=csv) and `time` (the
#: TIME_SERIES_INTRADAY_EXTENDED slices, e.g. `time,open,high,low,close,volume`).
TIME_COLUMNS = ("timestamp", "time")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
CSV_HEADER = ("timestamp", *VALUE_COLUMNS)  # the usual one, named in error messages
_MAX_RAW = 200  # longest raw value kept in a rejected bar's payload


@dataclass(frozen=True)
class RejectedBar:
    """A bar that failed a check: forwarded as found, so processing quarantines it."""

    symbol: str
    payload: dict[str, object]
    origin: str
    reason: str
    detail: str

    @property
    def partition_key(self) -> str:
        return self.symbol

    @property
    def ts(self) -> datetime | None:
        text = self.payload.get("ts")
        try:
            return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            return None

    def to_json(self) -> bytes:
        return json.dumps({**self.payload, ORIGIN_FIELD: self.origin}).encode()


@dataclass(frozen=True)
class Series:
    """One parsed response: bars oldest first, all timestamps UTC; rejected bars apart."""

    symbol: str
    interval: str
    bars: list[Bar]
    time_zone: str = "US/Eastern"
    rejected: list[RejectedBar] = field(default_factory=list)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SourceError(f"unknown time zone {name!r} in the response's Meta Data") from None


def local_to_utc(text: str, zone: ZoneInfo, interval: str) -> datetime:
    """A naive exchange-local timestamp (or, for daily bars, a date) as UTC, unshifted.

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
        if naive.tzinfo is not None:
            return naive.astimezone(UTC)
        return naive.replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        raise SourceError(f"timestamp {text!r} is not 'YYYY-MM-DD HH:MM:SS'") from None


def bar_start(text: str, zone: ZoneInfo, interval: str) -> datetime:
    """The UTC start of the bar an Alpha Vantage label names.

    Intraday labels are bar ends (real extended-hours days run 04:01..20:00 in 1min bars,
    and the 2020-11-27 half day ends at 17:00:00), so the start is one interval earlier.
    Daily labels are dates: their bar starts at the 09:30 open.
    """
    end = local_to_utc(text, zone, interval)
    if interval == "1day":
        return end
    try:
        return end - timedelta(seconds=INTERVAL_SECONDS[interval])
    except OverflowError:
        raise SourceError(f"timestamp {text.strip()!r} is out of range") from None


def _value(text: str) -> object:
    """A response string read as JSON reads a stream record's value; else the string."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text[:_MAX_RAW]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return text[:_MAX_RAW]


def to_bar(
    symbol: str,
    interval: str,
    stamp: str,
    row: dict[str, str],
    zone: ZoneInfo,
    source: str,
    origin: Callable[[], str],
) -> Bar | RejectedBar:
    """One row of a response: a `Bar`, or a `RejectedBar` naming its origin and reason.

    `origin` is called only for a rejected bar (finding a line can cost a scan)."""
    payload: dict[str, object] = {
        "schema_version": SCHEMA_VERSION,
        "symbol": symbol,
        "interval": interval,
        "ts": stamp.strip()[:_MAX_RAW],
    }
    # An unreadable label stays as found: processing rejects it as a time without a zone.
    with contextlib.suppress(SourceError):
        payload["ts"] = format_ts(bar_start(stamp, zone, interval))
    for name in VALUE_COLUMNS:
        if name in row:
            payload[name] = _value(row[name])
    payload["source"] = source
    try:
        v = validate(payload, datetime.now(UTC))
    except Rejected as rej:
        return RejectedBar(symbol, payload, origin(), rej.reason, rej.detail)
    return Bar(v.symbol, v.interval, v.ts, v.open, v.high, v.low, v.close, v.volume, source)


def _split(items: list[Bar | RejectedBar]) -> tuple[list[Bar], list[RejectedBar]]:
    bars = [b for b in items if isinstance(b, Bar)]
    rejected = [b for b in items if isinstance(b, RejectedBar)]
    bars.sort(key=lambda b: b.ts)
    return bars, rejected


def parse_json_series(
    doc: dict[str, object],
    source: str,
    interval: str | None = None,
    origin: Callable[[str], str] = lambda stamp: f"bar {stamp}",
) -> Series:
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
    if not SYMBOL_RE.fullmatch(symbol):
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
    items: list[Bar | RejectedBar] = []
    for stamp, values in rows.items():
        row = (
            {str(k).split(". ", 1)[-1].strip().lower(): str(v) for k, v in values.items()}
            if isinstance(values, dict)
            else {}
        )
        stamp = str(stamp)
        items.append(to_bar(symbol, found, stamp, row, zone, source, partial(origin, stamp)))
    bars, rejected = _split(items)
    return Series(symbol, found, bars, zone.key, rejected)


def infer_interval(stamps: list[str]) -> str | None:
    """The interval of a CSV series, from the smallest gap between its (readable) stamps."""
    if stamps and len(stamps[0].strip()) == 10:
        return "1day"
    times = set()
    for s in stamps:
        try:
            times.add(datetime.fromisoformat(s.strip()))
        except ValueError:
            continue  # a bad stamp is that row's problem, reported with the row
    ordered = sorted(times)
    gaps = {int((b - a).total_seconds()) for a, b in zip(ordered, ordered[1:], strict=False)}
    gaps.discard(0)
    if not gaps:
        return None
    smallest = min(gaps)
    return next((k for k, v in INTERVAL_SECONDS.items() if v == smallest), None)


def _csv_rows(text: str, where: str) -> tuple[tuple[str, ...], list[tuple[int, list[str]]]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = tuple(h.strip().lower() for h in next(reader, []))
        rows = [(reader.line_num, r) for r in reader if r and any(c.strip() for c in r)]
    except csv.Error as exc:
        # e.g. a 20 MB field: no Alpha Vantage response holds one.
        raise SourceError(
            f"{where} line {reader.line_num}: unreadable CSV ({exc}); this is not an "
            "Alpha Vantage response: fix or delete the file and rerun"
        ) from None
    return header, rows


def _line_origin(where: str, line: int) -> str:
    return f"{where} line {line}"


def parse_csv_series(
    text: str,
    symbol: str,
    interval: str | None,
    source: str,
    tz: str = "US/Eastern",
    where: str = "the CSV",
) -> Series:
    """A `datatype=csv` response; columns found by name (`timestamp` or `time` first)."""
    if not SYMBOL_RE.fullmatch(symbol):
        raise ConfigError(f"--symbol {symbol!r} is invalid: use A-Z, 0-9, '.' and '-'")
    header, rows = _csv_rows(text, where)
    time_col = next((i for i, h in enumerate(header) if h in TIME_COLUMNS), None)
    missing = [name for name in VALUE_COLUMNS if name not in header]
    if time_col is None or missing:
        raise SourceError(
            f"CSV header {','.join(header) or '(empty)'} is not an Alpha Vantage header "
            f"such as {','.join(CSV_HEADER)} or time,{','.join(VALUE_COLUMNS)}"
        )
    found = infer_interval([r[time_col] for _, r in rows if len(r) > time_col])
    if interval is None:
        if found is None:
            raise ConfigError("cannot tell the CSV's bar interval: give --interval, e.g. 5min")
        interval = found
    elif found is not None and found != interval:
        raise ConfigError(f"--interval {interval} does not match the CSV's spacing ({found})")
    zone = _zone(tz)
    items: list[Bar | RejectedBar] = []
    for line, r in rows:
        # A short row lacks its last columns: those fields are missing, not empty.
        row = {name: r[i] for i, name in enumerate(header) if i < len(r)}
        stamp = r[time_col] if len(r) > time_col else ""
        items.append(
            to_bar(symbol, interval, stamp, row, zone, source, partial(_line_origin, where, line))
        )
    bars, rejected = _split(items)
    return Series(symbol, interval, bars, zone.key, rejected)


def json_line_of(text: str, where: str) -> Callable[[str], str]:
    """For saved JSON: where a bar's label appears ("ibm.json line 12"), for quarantine."""

    def origin(stamp: str) -> str:
        pos = text.find(json.dumps(stamp))
        if pos < 0:
            return f"{where} bar {stamp}"
        return f"{where} line {text.count(chr(10), 0, pos) + 1}"

    return origin
