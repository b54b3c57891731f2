"""The data contract: every table, column and type, defined once.

The Parquet schemas, the Athena DDL, the DuckDB views and the Power BI model are all
generated from this module, so a new column cannot drift between them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field

import pyarrow as pa

SCHEMA_VERSION = 1

# A symbol is only ever used in a path or in SQL after it matches this, in full: `\Z`, not
# `$`, which would also accept a trailing newline ("MSFT\n" becoming a series of its own).
SYMBOL_RE = re.compile(r"\A[A-Z0-9][A-Z0-9.\-]{0,11}\Z")
INTERVALS = ("1min", "5min", "15min", "30min", "60min", "1day")
INTERVAL_SECONDS = {
    "1min": 60,
    "5min": 300,
    "15min": 900,
    "30min": 1800,
    "60min": 3600,
    "1day": 86400,
}

# Values of bars.session: the exchange session a bar belongs to (stockpipe.calendar);
# `closed` marks a bar on a day without a session (weekend, holiday).
SESSIONS = ("pre", "regular", "post", "closed")
# Which bars feed the indicators (SMA, EMA, MACD, RSI, Bollinger, change): a choice of
# sessions, every bar by default. A lake records the choice it was computed with
# (processing refuses a different one until `stockpipe reprocess` rebuilds it).
DEFAULT_INDICATOR_SESSIONS = SESSIONS


def parse_sessions(value: str | Sequence[str]) -> tuple[str, ...]:
    """`all`, or a comma-separated choice of SESSIONS, in contract order; ValueError if bad."""
    names = value.split(",") if isinstance(value, str) else list(value)
    chosen = {n.strip().lower() for n in names if n.strip()}
    if chosen == {"all"}:
        return SESSIONS
    unknown = sorted(chosen - set(SESSIONS))
    if unknown or not chosen:
        raise ValueError(
            f"{','.join(unknown) or 'nothing'} is not a choice of sessions: use 'all' or "
            f"a comma-separated list of {', '.join(SESSIONS)}"
        )
    return tuple(s for s in SESSIONS if s in chosen)


def format_sessions(sessions: Sequence[str]) -> str:
    return "all" if tuple(sessions) == SESSIONS else ",".join(sessions)


# Logical type -> (Arrow type, Athena type, DuckDB type, TMDL dataType)
_TYPES: dict[str, tuple[pa.DataType, str, str, str]] = {
    "string": (pa.string(), "string", "VARCHAR", "string"),
    "double": (pa.float64(), "double", "DOUBLE", "double"),
    "bigint": (pa.int64(), "bigint", "BIGINT", "int64"),
    "int": (pa.int32(), "int", "INTEGER", "int64"),
    "timestamp": (pa.timestamp("us", tz="UTC"), "timestamp", "TIMESTAMPTZ", "dateTime"),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    _: KW_ONLY
    nullable: bool = True

    @property
    def arrow_type(self) -> pa.DataType:
        return _TYPES[self.type][0]

    @property
    def athena_type(self) -> str:
        return _TYPES[self.type][1]

    @property
    def duckdb_type(self) -> str:
        return _TYPES[self.type][2]

    @property
    def tmdl_type(self) -> str:
        return _TYPES[self.type][3]


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    # Hive-style partition keys, in path order; not stored inside the files.
    partitions: tuple[Column, ...]
    # Lake prefix under the lake root, e.g. "processed-data/bars".
    prefix: str
    file_format: str = "parquet"
    key: tuple[str, ...] = field(default=())

    def column(self, name: str) -> Column:
        for col in self.columns + self.partitions:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow_schema(self) -> pa.Schema:
        """Schema of the Parquet files (partition columns live in the path)."""
        return pa.schema(
            [pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in self.columns]
        )


#: First date the partition projection knows (the Athena DDL and the Glue tables alike).
#: Each day from here to NOW is one projected partition of an unbounded query, so it starts
#: near the data rather than years before it; backfilling earlier months (alphavantage
#: --month) needs it moved back, then `stockpipe deploy --render` and the DDL rewritten.
PROJECTION_START = "2024-01-01"

# Partition projection per partition key: Athena derives the partitions from these rules,
# so there is no MSCK REPAIR and no crawler.
PARTITION_PROJECTIONS: dict[str, dict[str, str]] = {
    "dt": {
        "type": "date",
        "format": "yyyy-MM-dd",
        "range": f"{PROJECTION_START},NOW",
        "interval": "1",
        "interval.unit": "DAYS",
    },
    "hour": {"type": "integer", "range": "0,23", "digits": "2"},
}


def projection_properties(table: Table) -> dict[str, str]:
    """`projection.*` table properties of `table`, the same in the Athena DDL and in Glue;
    none for an unpartitioned table (one folder, nothing to project)."""
    if not table.partitions:
        return {}
    props = {"projection.enabled": "true"}
    for part in table.partitions:
        if part.name not in PARTITION_PROJECTIONS:
            raise ValueError(
                f"partition column {part.name!r} of table {table.name!r} has no projection; "
                "add one to stockpipe.contract.PARTITION_PROJECTIONS"
            )
        for key, value in PARTITION_PROJECTIONS[part.name].items():
            props[f"projection.{part.name}.{key}"] = value
    return props


def _d(name: str, description: str) -> Column:
    return Column(name, "double", description)


_DT = Column("dt", "string", "Exchange-local session date, YYYY-MM-DD (partition)", nullable=False)

# Indicators run over the indicator bars (STOCKPIPE_INDICATOR_SESSIONS, every bar by
# default) and are NULL on the others; the session values take in regular bars only.
_INDICATORS = (
    _d("change", "close - previous close in the series"),
    _d("change_pct", "100 * change / previous close"),
    _d("sma_5", "Simple moving average of close, 5 bars"),
    _d("sma_20", "Simple moving average of close, 20 bars"),
    _d("sma_50", "Simple moving average of close, 50 bars"),
    _d("ema_12", "Exponential moving average of close, 12 bars (SMA seed)"),
    _d("ema_26", "Exponential moving average of close, 26 bars (SMA seed)"),
    _d("macd", "MACD line (12, 26)"),
    _d("macd_signal", "MACD signal line (9)"),
    _d("macd_hist", "MACD histogram: macd - macd_signal"),
    _d("rsi_14", "Relative strength index, 14 bars, Wilder smoothing"),
    _d("bb_upper", "Bollinger upper band (20, 2 population sigma)"),
    _d("bb_middle", "Bollinger middle band (SMA 20)"),
    _d("bb_lower", "Bollinger lower band (20, 2 population sigma)"),
    _d("vwap", "Regular-session VWAP so far, from typical price (H+L+C)/3"),
    _d("session_high", "Running high of the regular session so far"),
    _d("session_low", "Running low of the regular session so far"),
)
# The bars columns the indicator kernel computes, in table order.
INDICATOR_COLUMNS = tuple(c.name for c in _INDICATORS)

BARS = Table(
    name="bars",
    description="Cleaned, deduplicated intraday bars with technical indicators",
    prefix="processed-data/bars",
    key=("symbol", "interval", "ts"),
    columns=(
        Column("symbol", "string", "Ticker symbol", nullable=False),
        Column("interval", "string", "Bar interval, e.g. 1min", nullable=False),
        Column("ts", "timestamp", "Bar start time, UTC", nullable=False),
        Column("open", "double", "Open price", nullable=False),
        Column("high", "double", "High price", nullable=False),
        Column("low", "double", "Low price", nullable=False),
        Column("close", "double", "Close price", nullable=False),
        Column("volume", "bigint", "Traded volume", nullable=False),
        Column("source", "string", "Where the bar came from: simulator, alphavantage, replay"),
        Column(
            "session",
            "string",
            "Exchange session: pre, regular, post (NYSE calendar), or closed (no session)",
            nullable=False,
        ),
        *_INDICATORS,
        Column("ingest_shard", "string", "Stream shard the winning record came from"),
        Column("ingest_seq", "string", "Stream sequence number of the winning record"),
    ),
    partitions=(_DT,),
)

DAILY = Table(
    name="daily",
    description="One row per symbol and trading day, aggregated from its regular-session bars",
    prefix="processed-data/daily",
    key=("symbol", "dt"),
    columns=(
        Column("symbol", "string", "Ticker symbol", nullable=False),
        Column("interval", "string", "Interval of the bars this row aggregates", nullable=False),
        Column("open", "double", "First open of the regular session", nullable=False),
        Column("high", "double", "Highest high of the regular session", nullable=False),
        Column("low", "double", "Lowest low of the regular session", nullable=False),
        Column("close", "double", "Last close of the regular session", nullable=False),
        Column("volume", "bigint", "Total volume of the regular session", nullable=False),
        _d("vwap", "Regular-session VWAP from typical price"),
        _d("change", "close - close of the previous trading day"),
        _d("change_pct", "100 * change / close of the previous trading day"),
        Column("bar_count", "bigint", "Number of regular-session bars", nullable=False),
        Column("pre_volume", "bigint", "Volume of the pre-market bars of the day", nullable=False),
        Column(
            "post_volume", "bigint", "Volume of the after-hours bars of the day", nullable=False
        ),
    ),
    partitions=(_DT,),
)

QUARANTINE = Table(
    name="quarantine",
    description="Records rejected by cleaning, with the reason and where they came from",
    prefix="quarantine",
    key=("shard_id", "sequence_number"),
    columns=(
        Column("reason", "string", "Reason code, e.g. invalid_json, bad_price", nullable=False),
        Column("detail", "string", "Human-readable explanation", nullable=False),
        Column("payload", "string", "The raw payload as received (invalid UTF-8 replaced)"),
        Column("shard_id", "string", "Stream shard", nullable=False),
        Column("sequence_number", "string", "Stream sequence number", nullable=False),
        Column("arrival_ts", "timestamp", "When the stream accepted the record, UTC"),
    ),
    partitions=(
        Column("dt", "string", "UTC arrival date, YYYY-MM-DD (partition)", nullable=False),
    ),
)

RAW = Table(
    name="raw",
    description="Every stream record exactly as received, JSON lines (the raw zone)",
    prefix="raw-data",
    file_format="json",
    key=("shard_id", "sequence_number"),
    columns=(
        Column("shard_id", "string", "Stream shard", nullable=False),
        Column("sequence_number", "string", "Stream sequence number", nullable=False),
        Column("partition_key", "string", "Partition key the producer used", nullable=False),
        Column(
            "arrival_ts",
            "string",
            "When the stream accepted the record, ISO 8601 UTC",
            nullable=False,
        ),
        Column("data", "string", "The payload as received, when it is valid UTF-8"),
        Column("data_b64", "string", "The payload in base64, when it is not valid UTF-8"),
    ),
    partitions=(
        Column("dt", "string", "UTC arrival date, YYYY-MM-DD (partition)", nullable=False),
        Column("hour", "string", "UTC arrival hour, 00-23 (partition)", nullable=False),
    ),
)

# Derived from bars, one file rewritten whole after each processed batch
# (stockpipe.processing.latest), so the dashboard's "latest quote" queries read a few
# thousand rows instead of every bar. A row per session date, not per series: the catalog
# query's `dt >= from_dt` stays exact, and a late bar only recomputes its own date's row.
LATEST = Table(
    name="latest",
    description="One row per symbol, interval and session date: bar count, first bar time, "
    "first open and the newest bar of that date",
    prefix="processed-data/latest",
    key=("symbol", "interval", "dt"),
    columns=(
        Column("symbol", "string", "Ticker symbol", nullable=False),
        Column("interval", "string", "Bar interval, e.g. 1min", nullable=False),
        Column("dt", "string", "Exchange-local session date, YYYY-MM-DD", nullable=False),
        Column(
            "first_ts", "timestamp", "Start time of the first bar of the date, UTC", nullable=False
        ),
        Column("bar_count", "bigint", "Number of bars of the date", nullable=False),
        Column("day_open", "double", "Open of the first bar of the date", nullable=False),
        Column("ts", "timestamp", "Start time of the newest bar of the date, UTC", nullable=False),
        Column("open", "double", "Open price of the newest bar", nullable=False),
        Column("high", "double", "High price of the newest bar", nullable=False),
        Column("low", "double", "Low price of the newest bar", nullable=False),
        Column("close", "double", "Close price of the newest bar", nullable=False),
        Column("volume", "bigint", "Traded volume of the newest bar", nullable=False),
        _d("vwap", "bars.vwap of the newest bar"),
        _d("session_high", "bars.session_high of the newest bar"),
        _d("session_low", "bars.session_low of the newest bar"),
    ),
    partitions=(),
)

TABLES: dict[str, Table] = {t.name: t for t in (BARS, DAILY, QUARANTINE, RAW, LATEST)}

#: Tables whose dt partitions are published through manifests, `<prefix>/_manifests/dt=D/`
#: (stockpipe.lake.manifest): every reader, Athena's symlink tables included, reads the
#: files those name.
MANIFESTS_DIR = "_manifests"
MANIFESTED_TABLES: tuple[Table, ...] = (BARS, DAILY, QUARANTINE)

# Fields of the canonical stream record (one bar per record, JSON).
RECORD_FIELDS = (
    "schema_version",
    "symbol",
    "interval",
    "ts",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "source",
)
