"""Cleaning: every stream record becomes a `CleanBar` or a `QuarantineRow`; nothing is lost.

The checks run in a fixed order and the first failure names the reason, so the same
payload always gets the same reason code. A symbol is checked against SYMBOL_RE before
anything else uses it, because the engine puts symbols in lake paths.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
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


class _Reject(Exception):
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
        raise _Reject("invalid_json", "payload is not valid UTF-8") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Reject("invalid_json", f"payload is not JSON: {exc.msg} at {exc.pos}") from None
    except RecursionError:
        # A record under the 1 MiB limit can still nest deeper than the parser's stack.
        raise _Reject("invalid_json", "payload nests JSON arrays/objects too deeply") from None
    if not isinstance(doc, dict):
        raise _Reject("invalid_json", f"payload is a JSON {type(doc).__name__}, not an object")
    return doc


def _check(doc: dict[str, object], record: StreamRecord, arrival: datetime) -> CleanBar:
    missing = [name for name in RECORD_FIELDS if name not in doc]
    if missing:
        raise _Reject("missing_field", f"missing field(s): {', '.join(missing)}")
    version = doc["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise _Reject("bad_type", f"schema_version {version!r} is not an integer")
    for name in ("symbol", "interval", "ts"):
        if not isinstance(doc[name], str):
            raise _Reject("bad_type", f"{name} {doc[name]!r} is not a string")
    if doc["source"] is not None and not isinstance(doc["source"], str):
        raise _Reject("bad_type", f"source {doc['source']!r} is not a string or null")
    for name in ("symbol", "interval", "ts", "source"):
        # JSON may escape a lone surrogate (\ud800), which no Parquet/UTF-8 writer accepts.
        if isinstance(doc[name], str) and not str(doc[name]).isascii():
            try:
                str(doc[name]).encode("utf-8")
            except UnicodeEncodeError:
                raise _Reject("bad_type", f"{name} {doc[name]!r} is not valid Unicode") from None
    for name in _PRICES:
        if not _is_number(doc[name]):
            raise _Reject("bad_type", f"{name} {doc[name]!r} is not a number")
    volume = doc["volume"]
    if not isinstance(volume, int) or isinstance(volume, bool):
        raise _Reject("bad_type", f"volume {volume!r} is not an integer")
    if version != SCHEMA_VERSION:
        raise _Reject(
            "unsupported_schema_version",
            f"schema_version {version} is not supported (this build reads {SCHEMA_VERSION})",
        )
    symbol = str(doc["symbol"])
    if not SYMBOL_RE.match(symbol):
        raise _Reject("bad_symbol", f"symbol {symbol!r} does not match {SYMBOL_RE.pattern}")
    interval = str(doc["interval"])
    if interval not in INTERVALS:
        raise _Reject("unknown_interval", f"interval {interval!r} is not one of {INTERVALS}")
    try:
        ts = parse_ts(str(doc["ts"]))
    except (ValueError, OverflowError):
        raise _Reject("bad_type", f"ts {doc['ts']!r} is not an ISO 8601 time with a zone") from None
    if ts < EARLIEST_TS or ts > arrival + MAX_AHEAD_OF_ARRIVAL:
        raise _Reject(
            "ts_out_of_range",
            f"ts {doc['ts']} is outside {EARLIEST_TS:%Y-%m-%d} .. arrival + "
            f"{MAX_AHEAD_OF_ARRIVAL.days} days",
        )
    try:
        prices = {name: float(doc[name]) for name in _PRICES}  # type: ignore[arg-type]
    except OverflowError:
        # An integer literal such as 1e400 written out in digits does not fit a double.
        raise _Reject("non_finite_price", "a price is an integer too large for a double") from None
    for name, value in prices.items():
        if not math.isfinite(value):
            raise _Reject("non_finite_price", f"{name} {value!r} is not finite")
    for name, value in prices.items():
        if value <= 0:
            raise _Reject("non_positive_price", f"{name} {value!r} is not positive")
    o, h, lo, c = prices["open"], prices["high"], prices["low"], prices["close"]
    if h < max(o, c):
        raise _Reject("high_below_open_close", f"high {h} < max(open {o}, close {c})")
    if lo > min(o, c):
        raise _Reject("low_above_open_close", f"low {lo} > min(open {o}, close {c})")
    if volume < 0:
        raise _Reject("negative_volume", f"volume {volume} is negative")
    if volume >= 2**63:
        raise _Reject("bad_type", f"volume {volume} does not fit a 64-bit integer")
    return CleanBar(
        symbol=symbol,
        interval=interval,
        ts=ts,
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=volume,
        source=doc["source"],  # type: ignore[arg-type]
        shard_id=record.shard_id,
        sequence_number=record.sequence_number,
        arrival_ts=arrival,
    )


def clean(record: StreamRecord) -> CleanBar | QuarantineRow:
    """Validate one stream record against the canonical `Bar` JSON."""
    arrival = record.arrival_ts.astimezone(UTC)
    try:
        return _check(_parse(record), record, arrival)
    except _Reject as rej:
        return QuarantineRow(
            reason=rej.reason,
            detail=rej.detail,
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
