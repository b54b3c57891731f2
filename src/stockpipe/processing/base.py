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
from typing import Any

import pyarrow as pa

from stockpipe.contract import BARS, DAILY, QUARANTINE
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

# Hidden columns stored after the contract columns of every bars file. They carry the
# recursive state (EMA, Wilder averages, session sums) so a later batch can resume
# exactly at any bar. Readers select contract columns by name and never see them.
HIDDEN_BAR_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    # Ordinal of the last indicator bar up to this one in its (symbol, interval) series
    # (-1 before the first); with the default choice (every bar), the bar's own ordinal.
    ("_n", pa.int64()),
    ("_ema_fast", pa.float64()),  # MACD's fast EMA (seed window ends with the slow one's)
    ("_avg_gain", pa.float64()),  # RSI Wilder averages
    ("_avg_loss", pa.float64()),
    ("_cum_pv", pa.float64()),  # the day's regular-session sums for VWAP
    ("_cum_vol", pa.float64()),
    ("_created_shard", pa.string()),  # earliest-arrived version of the key: for counting
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
