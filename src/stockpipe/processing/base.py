"""The processing contract: what cleaning emits, what a batch reports, hidden state columns.

Counting rule (the accounting invariant `read == kept + duplicates + quarantined`):
- `quarantined`: records that fail cleaning;
- `kept`: valid records that create a (symbol, interval, ts) key, i.e. the first version
  of a bar ever seen (the earliest-arrived one when a batch holds several);
- `duplicates`: every other valid version of a key: exact re-sends and corrections alike.
  A correction still *wins* (the last-arrived version is the one stored), but it is counted
  as a duplicate, because the key was already counted once as kept.
So over any split into batches, kept = distinct keys and duplicates = valid - distinct keys.
A record replayed after a crash (its (shard, seq) is already stored) is counted the way it
was counted the first time, because the checkpoint's totals were rolled back with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import pyarrow as pa

from stockpipe.contract import BARS, DAILY, INDICATOR_COLUMNS, QUARANTINE
from stockpipe.stream.base import seq_key

# Reason codes of the quarantine table, in the order the checks run.
REASONS = (
    "invalid_json",
    "source_rejected",
    "missing_field",
    "bad_type",
    "unsupported_schema_version",
    "bad_symbol",
    "unknown_interval",
    "ts_out_of_range",
    "non_finite_price",
    "non_positive_price",
    "high_below_open_close",
    "low_above_open_close",
    "negative_volume",
)


class StateSlot(NamedTuple):
    """One number of the recursive indicator state, the kernel's carry between bars.

    `name` is its `IndicatorState` field and slot of the compiled loop's carry; `column`
    the bars column that stores it. An indicator-bar slot is stored on indicator bars
    only (NULL on the others), so a series resumes from its last indicator bar; an
    every-bar slot from its last bar. A `nullable` slot may be NULL in a resumable state.
    """

    name: str
    column: str
    every_bar: bool
    start: float  # its value before a series' first bar
    nullable: bool = False


_NAN = float("nan")
# THE state layout, in the order of the compiled loop's carry (after the previous close).
# The rest of a state: the ordinal (`_n` of the last bar + 1), the closes of the last
# CONTEXT indicator bars (their `close`) and the session date of the last bar (`dt`).
STATE_SLOTS = (
    StateSlot("ema_12", "ema_12", every_bar=False, start=_NAN),
    StateSlot("ema_26", "ema_26", every_bar=False, start=_NAN),
    StateSlot("ema_fast", "_ema_fast", every_bar=False, start=_NAN),  # MACD's fast EMA
    StateSlot("macd_signal", "macd_signal", every_bar=False, start=_NAN),
    StateSlot("avg_gain", "_avg_gain", every_bar=False, start=_NAN),  # RSI Wilder averages
    StateSlot("avg_loss", "_avg_loss", every_bar=False, start=_NAN),
    StateSlot("cum_pv", "_cum_pv", every_bar=True, start=0.0),  # the day's regular-session
    StateSlot("cum_vol", "_cum_vol", every_bar=True, start=0.0),  # sums for VWAP
    # NULL until the day's first regular bar.
    StateSlot("session_high", "session_high", every_bar=True, start=_NAN, nullable=True),
    StateSlot("session_low", "session_low", every_bar=True, start=_NAN, nullable=True),
)
# Ordinal of the last indicator bar up to a bar in its (symbol, interval) series (-1
# before the first); with the default choice (every bar), the bar's own ordinal.
ORDINAL = "_n"
# The state columns the kernel returns besides INDICATOR_COLUMNS: stored hidden.
STATE_COLUMNS = (ORDINAL, *(s.column for s in STATE_SLOTS if s.column not in INDICATOR_COLUMNS))
# Columns a resumable state needs non-NULL: in the last bar, and in the last indicator bar.
NEEDED_ON_LAST = (ORDINAL, *(s.column for s in STATE_SLOTS if s.every_bar and not s.nullable))
NEEDED_ON_INDICATOR = tuple(s.column for s in STATE_SLOTS if not s.every_bar)

# Hidden columns stored after the contract columns of every bars file: the state columns,
# so a later batch can resume exactly at any bar, and the earliest-arrived version of the
# key, for counting. Readers select contract columns by name and never see them.
HIDDEN_BAR_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    (ORDINAL, pa.int64()),
    *((name, pa.float64()) for name in STATE_COLUMNS[1:]),
    ("_created_shard", pa.string()),
    ("_created_seq", pa.string()),
)
HIDDEN_NAMES = tuple(name for name, _ in HIDDEN_BAR_COLUMNS)


def bars_file_schema() -> pa.Schema:
    """Schema of the bars Parquet files: the contract columns, then the hidden state."""
    schema = BARS.arrow_schema()
    for name, typ in HIDDEN_BAR_COLUMNS:
        schema = schema.append(pa.field(name, typ, nullable=True))
    return schema


def daily_file_schema() -> pa.Schema:
    return DAILY.arrow_schema()


def quarantine_file_schema() -> pa.Schema:
    return QUARANTINE.arrow_schema()


Position = tuple[int, str]
NO_POSITION: Position = (-1, "")  # before every arrival: a stored row without a position


def position(shard_id: str, sequence_number: str) -> Position:
    """Arrival order: larger sequence number is later; across shards, shard id breaks ties."""
    return (seq_key(sequence_number), shard_id)


def row_position(shard: object, seq: object) -> Position:
    """`position` of a stored row's (shard, seq) cells; NO_POSITION if either is NULL."""
    if not isinstance(shard, str) or not isinstance(seq, str):
        return NO_POSITION
    return position(shard, seq)


@dataclass(frozen=True, slots=True)
class CleanBar:
    """A record that passed cleaning, with where it came from."""

    symbol: str
    interval: str
    ts: datetime  # UTC-aware bar start
    open: float
    high: float
    low: float
    close: float
    volume: int
    source: str | None
    shard_id: str
    sequence_number: str
    arrival_ts: datetime

    @property
    def pos(self) -> Position:
        return position(self.shard_id, self.sequence_number)


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """A rejected record: the reason code, a readable detail, the payload and its origin."""

    reason: str
    detail: str
    payload: str
    shard_id: str
    sequence_number: str
    arrival_ts: datetime


_COUNTERS = ("read", "kept", "duplicates", "quarantined")


@dataclass
class BatchStats:
    """Counts of one batch (or running totals): read == kept + duplicates + quarantined."""

    read: int = 0
    kept: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # quarantined, by reason code

    @property
    def balanced(self) -> bool:
        return self.read == self.kept + self.duplicates + self.quarantined

    def __add__(self, other: BatchStats) -> BatchStats:
        reasons = dict(self.reasons)
        for key, value in other.reasons.items():
            reasons[key] = reasons.get(key, 0) + value
        return BatchStats(
            self.read + other.read,
            self.kept + other.kept,
            self.duplicates + other.duplicates,
            self.quarantined + other.quarantined,
            dict(sorted(reasons.items())),
        )

    def to_state(self) -> dict[str, Any]:
        """Running totals as a JSON-able dict for the consumer checkpoint's `state`."""
        doc: dict[str, Any] = {name: getattr(self, name) for name in _COUNTERS}
        doc["reasons"] = dict(sorted(self.reasons.items()))
        return doc

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> BatchStats:
        state = state or {}
        read, kept, duplicates, quarantined = (int(state.get(n, 0)) for n in _COUNTERS)
        reasons = {str(k): int(v) for k, v in dict(state.get("reasons", {})).items()}
        return cls(read, kept, duplicates, quarantined, reasons)
