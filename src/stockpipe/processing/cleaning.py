"""Cleaning: every stream record becomes a `CleanBar` or a `QuarantineRow`; nothing is lost.

The checks run in a fixed order and the first failure names the reason, so the same
payload always gets the same reason code. A symbol is checked against SYMBOL_RE before
anything else uses it, because the engine puts symbols in lake paths.

`clean_columns` cleans a batch in bulk: payloads that decode (decode.py) and pass every
check as whole columns become rows at once; only the others go through `clean`, so what it
keeps, in which order, and every quarantine row are exactly `clean`'s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from stockpipe.contract import INTERVALS, RECORD_FIELDS, SCHEMA_VERSION, SYMBOL_RE
from stockpipe.processing.base import CleanBar, QuarantineRow
from stockpipe.processing.decode import DecodedBars, decode_bars
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
    return Valid(symbol, interval, ts, o, h, lo, c, volume, doc["source"])


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
    columns, rejected = clean_columns(list(records))
    return columns.to_bars(), rejected


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_EARLIEST_US = (EARLIEST_TS - _EPOCH) // _MICROSECOND
_AHEAD_US = MAX_AHEAD_OF_ARRIVAL // _MICROSECOND
# A ts that does not parse maps below every bound, so the range check drops it too.
_NO_TS = np.iinfo(np.int64).min
_FIELDS = tuple(f.name for f in fields(CleanBar))
# The columns of a bar that come from its payload as decoded, unchanged.
_DECODED = ("symbol", "interval", "open", "high", "low", "close", "volume", "source")
_TIMES = ("ts", "arrival_ts")  # held as int64 microseconds until the columns are built
_DTYPES: dict[str, Any] = {"open": np.float64, "high": np.float64, "low": np.float64,
                           "close": np.float64, "volume": np.int64, "ts": np.int64,
                           "arrival_ts": np.int64}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CleanColumns:
    """The bars of a batch that passed cleaning, as columns, in input order.

    Row i holds the values of the i-th `CleanBar` that `clean_batch` returns. Times are
    UTC as `datetime64[us]` (the precision of `datetime`); strings are object arrays, and
    `source` holds None where the payload's source is null.
    """

    symbol: npt.NDArray[np.object_]
    interval: npt.NDArray[np.object_]
    ts: npt.NDArray[np.datetime64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.int64]
    source: npt.NDArray[np.object_]
    shard_id: npt.NDArray[np.object_]
    sequence_number: npt.NDArray[np.object_]
    arrival_ts: npt.NDArray[np.datetime64]

    def __len__(self) -> int:
        return len(self.symbol)

    def to_arrow(self) -> pa.Table:
        """The columns as a pyarrow table; times are `timestamp[us, tz=UTC]`."""
        arrays = {}
        for name in _FIELDS:
            values = getattr(self, name)
            kind = pa.timestamp("us", tz="UTC") if name in _TIMES else None
            arrays[name] = pa.array(values, type=kind, from_pandas=False)
        return pa.table(arrays)

    def take(self, rows: npt.NDArray[np.intp]) -> CleanColumns:
        """The rows at positions `rows`, in that order."""
        return CleanColumns(**{name: getattr(self, name)[rows] for name in _FIELDS})

    def to_bars(self) -> list[CleanBar]:
        """One `CleanBar` per row, equal to what `clean` returns for its record."""
        values = [
            _datetimes(getattr(self, name)) if name in _TIMES else getattr(self, name).tolist()
            for name in _FIELDS
        ]
        return [CleanBar(*row) for row in zip(*values, strict=True)]


def clean_columns(records: Sequence[StreamRecord]) -> tuple[CleanColumns, list[QuarantineRow]]:
    """`clean_batch` in columns: the same bars in the same order, the same quarantine rows.

    Payloads that decode and pass every check as whole columns become rows at once; the
    rest (rare: rejects, and bars with extra fields) go through `clean` one by one.
    """
    decoded = decode_bars([r.data for r in records])
    arrival_us = _arrival_micros(records)
    ts_us = _map_unique(decoded["ts"], _ts_micros, np.int64)
    passed = _passes_in_bulk(decoded, ts_us, arrival_us[decoded.rows])
    fast = decoded.rows[passed]
    columns = {name: decoded[name][passed] for name in _DECODED}
    columns["ts"] = ts_us[passed]
    columns["shard_id"] = _objects([records[i].shard_id for i in fast.tolist()])
    columns["sequence_number"] = _objects([records[i].sequence_number for i in fast.tolist()])
    columns["arrival_ts"] = arrival_us[fast]
    rest = np.sort(np.concatenate([decoded.failed, decoded.rows[~passed]]))
    kept, rejected = _clean_each(records, rest.tolist())
    if kept:
        order = np.argsort(np.concatenate([fast, list(kept)]), kind="stable")
        slow = _bar_columns(list(kept.values()))
        columns = {name: np.concatenate([columns[name], slow[name]])[order] for name in _FIELDS}
    for name in _TIMES:
        columns[name] = columns[name].astype(np.int64).view("datetime64[us]")
    return CleanColumns(**columns), rejected


def _clean_each(
    records: Sequence[StreamRecord], rows: list[int]
) -> tuple[dict[int, CleanBar], list[QuarantineRow]]:
    """`clean` the records at `rows`: the bars by row, and the quarantine rows in order."""
    kept: dict[int, CleanBar] = {}
    rejected: list[QuarantineRow] = []
    for i in rows:
        result = clean(records[i])
        if isinstance(result, CleanBar):
            kept[i] = result
        else:
            rejected.append(result)
    return kept, rejected


def _passes_in_bulk(
    decoded: DecodedBars, ts_us: npt.NDArray[np.int64], arrival_us: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Rows that pass every check of `validate`; a row failing any is `clean`'s to name."""
    o, h, lo, c = (decoded[name] for name in ("open", "high", "low", "close"))
    ok = decoded["schema_version"] == SCHEMA_VERSION
    ok &= _map_unique(decoded["symbol"], _is_symbol, np.bool_)
    ok &= _map_unique(decoded["interval"], INTERVALS.__contains__, np.bool_)
    ok &= _map_unique(decoded["source"], _is_source, np.bool_)
    ok &= (ts_us >= _EARLIEST_US) & (ts_us <= arrival_us + _AHEAD_US)
    ok &= np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
    ok &= (o > 0) & (h > 0) & (lo > 0) & (c > 0)
    ok &= (h >= np.maximum(o, c)) & (lo <= np.minimum(o, c))
    ok &= decoded["volume"] >= 0
    result: npt.NDArray[np.bool_] = ok
    return result


def _is_unicode(text: str) -> bool:
    # JSON may escape a lone surrogate (\ud800), which `validate` refuses (bad_type).
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_symbol(value: str | None) -> bool:
    return value is not None and SYMBOL_RE.fullmatch(value) is not None


def _is_source(value: str | None) -> bool:
    return value is None or _is_unicode(value)


def _ts_micros(value: str | None) -> int:
    if value is None or not _is_unicode(value):
        return int(_NO_TS)
    try:
        return (parse_ts(value) - _EPOCH) // _MICROSECOND
    except (ValueError, OverflowError):
        return int(_NO_TS)


def _map_unique(
    values: npt.NDArray[np.object_], fn: Callable[[Any], object], dtype: Any
) -> npt.NDArray[Any]:
    """fn(value) for every value, calling fn once per distinct value (None included)."""
    codes, uniques = pd.factorize(values)
    # factorize codes None as -1: the last entry, fn(None), answers for it.
    mapped = [fn(value) for value in uniques.tolist()] + [fn(None)]
    result: npt.NDArray[Any] = np.array(mapped, dtype=dtype)[codes]
    return result


def _arrival_micros(records: Sequence[StreamRecord]) -> npt.NDArray[np.int64]:
    arrivals = [r.arrival_ts for r in records]
    try:
        micros = [(ts - _EPOCH) // _MICROSECOND for ts in arrivals]
    except TypeError:  # a naive arrival: `clean` reads it as local time, so do the same
        micros = [(ts.astimezone(UTC) - _EPOCH) // _MICROSECOND for ts in arrivals]
    return np.array(micros, dtype=np.int64)


def _objects(values: list[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _bar_columns(bars: list[CleanBar]) -> dict[str, npt.NDArray[Any]]:
    columns = {}
    for name in _FIELDS:
        values: list[Any] = [getattr(bar, name) for bar in bars]
        if name in _TIMES:
            values = [(ts - _EPOCH) // _MICROSECOND for ts in values]
        dtype = _DTYPES.get(name)
        columns[name] = _objects(values) if dtype is None else np.array(values, dtype=dtype)
    return columns


def _datetimes(times: npt.NDArray[np.datetime64]) -> list[datetime]:
    micros = times.view(np.int64)
    codes, uniques = pd.factorize(micros)
    as_datetime = [_EPOCH + timedelta(microseconds=us) for us in uniques.tolist()]
    return [as_datetime[code] for code in codes.tolist()]
