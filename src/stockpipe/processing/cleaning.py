"""Cleaning: every stream record becomes a `CleanBar` or a `QuarantineRow`; nothing is lost.

The checks run in a fixed order and the first failure names the reason, so the same
payload always gets the same reason code. A symbol is checked against SYMBOL_RE before
anything else uses it, because the engine puts symbols in lake paths.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from stockpipe.contract import INTERVALS, RECORD_FIELDS, SCHEMA_VERSION, SYMBOL_RE
from stockpipe.processing.base import CleanBar, QuarantineRow
from stockpipe.records import parse_ts
from stockpipe.stream.base import StreamRecord

# Plausible bar times: after US markets went electronic, and never far ahead of arrival
# (the simulator may backfill calendar sessions up to a year ahead of the wall clock).
EARLIEST_TS = datetime(1990, 1, 1, tzinfo=UTC)
MAX_AHEAD_OF_ARRIVAL = timedelta(days=400)
_PRICES = ("open", "high", "low", "close")
_MAX_DETAIL = 200
#: Optional payload field a source sets on a bar it knows is bad: "file line N" or the request.
ORIGIN_FIELD = "origin"
#: Field of a record a source could not turn into a bar at all (a websocket frame it could
#: not read, a trade too late to count): its value is the source's own reason code.
SOURCE_REJECTED_FIELD = "rejected"


class Rejected(Exception):
    """A payload fails a check: `reason` is a code of `REASONS`, `detail` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail[:_MAX_DETAIL]


def _is_number(value: object) -> bool:
    # JSON true/false parse to bool, which Python counts as int: not a price.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse(record: StreamRecord) -> dict[str, object]:
    try:
        text = record.data.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected("invalid_json", "payload is not valid UTF-8") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected("invalid_json", f"payload is not JSON: {exc.msg} at {exc.pos}") from None
    except RecursionError:
        # A record under the 1 MiB limit can still nest deeper than the parser's stack.
        raise Rejected("invalid_json", "payload nests JSON arrays/objects too deeply") from None
    if not isinstance(doc, dict):
        raise Rejected("invalid_json", f"payload is a JSON {type(doc).__name__}, not an object")
    return doc


@dataclass(frozen=True, slots=True)
class Valid:
    """The typed values of a payload that passed every check."""

    symbol: str
    interval: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    source: str | None


def validate(doc: dict[str, object], arrival: datetime) -> Valid:
    """Check one decoded payload; raises `Rejected` with the reason code and detail.

    Sources call this too (with arrival = now), so a value a saved file or a live
    response carries is judged exactly as the same value arriving as a stream record.
    """
    missing = [name for name in RECORD_FIELDS if name not in doc]
    if missing:
        raise Rejected("missing_field", f"missing field(s): {', '.join(missing)}")
    version = doc["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise Rejected("bad_type", f"schema_version {version!r} is not an integer")
    for name in ("symbol", "interval", "ts"):
        if not isinstance(doc[name], str):
            raise Rejected("bad_type", f"{name} {doc[name]!r} is not a string")
    if doc["source"] is not None and not isinstance(doc["source"], str):
        raise Rejected("bad_type", f"source {doc['source']!r} is not a string or null")
    for name in ("symbol", "interval", "ts", "source"):
        # JSON may escape a lone surrogate (\ud800), which no Parquet/UTF-8 writer accepts.
        if isinstance(doc[name], str) and not str(doc[name]).isascii():
            try:
                str(doc[name]).encode("utf-8")
            except UnicodeEncodeError:
                raise Rejected("bad_type", f"{name} {doc[name]!r} is not valid Unicode") from None
    for name in _PRICES:
        if not _is_number(doc[name]):
            raise Rejected("bad_type", f"{name} {doc[name]!r} is not a number")
    volume = doc["volume"]
    if not isinstance(volume, int) or isinstance(volume, bool):
        raise Rejected("bad_type", f"volume {volume!r} is not an integer")
    if version != SCHEMA_VERSION:
        raise Rejected(
            "unsupported_schema_version",
            f"schema_version {version} is not supported (this build reads {SCHEMA_VERSION})",
        )
    symbol = str(doc["symbol"])
    if not SYMBOL_RE.fullmatch(symbol):
        raise Rejected("bad_symbol", f"symbol {symbol!r} does not match {SYMBOL_RE.pattern}")
    interval = str(doc["interval"])
    if interval not in INTERVALS:
        raise Rejected("unknown_interval", f"interval {interval!r} is not one of {INTERVALS}")
    try:
        ts = parse_ts(str(doc["ts"]))
    except (ValueError, OverflowError):
        raise Rejected(
            "bad_type", f"ts {doc['ts']!r} is not an ISO 8601 time with a zone"
        ) from None
    if ts < EARLIEST_TS or ts > arrival + MAX_AHEAD_OF_ARRIVAL:
        raise Rejected(
            "ts_out_of_range",
            f"ts {doc['ts']} is outside {EARLIEST_TS:%Y-%m-%d} .. arrival + "
            f"{MAX_AHEAD_OF_ARRIVAL.days} days",
        )
    try:
        prices = {name: float(doc[name]) for name in _PRICES}  # type: ignore[arg-type]
    except OverflowError:
        # An integer literal such as 1e400 written out in digits does not fit a double.
        raise Rejected("non_finite_price", "a price is an integer too large for a double") from None
    for name, value in prices.items():
        if not math.isfinite(value):
            raise Rejected("non_finite_price", f"{name} {value!r} is not finite")
    for name, value in prices.items():
        if value <= 0:
            raise Rejected("non_positive_price", f"{name} {value!r} is not positive")
    o, h, lo, c = prices["open"], prices["high"], prices["low"], prices["close"]
    if h < max(o, c):
        raise Rejected("high_below_open_close", f"high {h} < max(open {o}, close {c})")
    if lo > min(o, c):
        raise Rejected("low_above_open_close", f"low {lo} > min(open {o}, close {c})")
    if volume < 0:
        raise Rejected("negative_volume", f"volume {volume} is negative")
    if volume >= 2**63:
        raise Rejected("bad_type", f"volume {volume} does not fit a 64-bit integer")
    return Valid(symbol, interval, ts, o, h, lo, c, volume, doc["source"])  # type: ignore[arg-type]


def _check(doc: dict[str, object], record: StreamRecord, arrival: datetime) -> CleanBar:
    code = doc.get(SOURCE_REJECTED_FIELD)
    if isinstance(code, str) and code:
        # The source already knows why: keep its reason rather than a generic missing_field.
        raise Rejected("source_rejected", f"{code[:60]}: {doc.get('detail', '')}")
    v = validate(doc, arrival)
    return CleanBar(
        symbol=v.symbol,
        interval=v.interval,
        ts=v.ts,
        open=v.open,
        high=v.high,
        low=v.low,
        close=v.close,
        volume=v.volume,
        source=v.source,
        shard_id=record.shard_id,
        sequence_number=record.sequence_number,
        arrival_ts=arrival,
    )


def clean(record: StreamRecord) -> CleanBar | QuarantineRow:
    """Validate one stream record against the canonical `Bar` JSON."""
    arrival = record.arrival_ts.astimezone(UTC)
    doc: dict[str, object] | None = None
    try:
        doc = _parse(record)
        return _check(doc, record, arrival)
    except Rejected as rej:
        detail = rej.detail
        origin = doc.get(ORIGIN_FIELD) if doc is not None else None
        if isinstance(origin, str) and origin:
            # A source that already saw the bar is bad names where it came from: the
            # quarantine row then points at the file and line, or the request.
            detail = f"{origin[:120]}: {detail}"
        return QuarantineRow(
            reason=rej.reason,
            detail=detail[:_MAX_DETAIL],
            payload=record.data.decode("utf-8", errors="replace"),
            shard_id=record.shard_id,
            sequence_number=record.sequence_number,
            arrival_ts=arrival,
        )


def clean_batch(records: Iterable[StreamRecord]) -> tuple[list[CleanBar], list[QuarantineRow]]:
    """Split records into valid bars and quarantine rows, keeping input order."""
    bars: list[CleanBar] = []
    rejected: list[QuarantineRow] = []
    for record in records:
        result = clean(record)
        if isinstance(result, CleanBar):
            bars.append(result)
        else:
            rejected.append(result)
    return bars, rejected
