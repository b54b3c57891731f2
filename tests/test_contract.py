"""contract.py on its own: symbols, intervals, sessions, the type table and the tables.

The expected values are written out from the README's table descriptions, not read back.
"""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa
import pytest

from stockpipe.contract import (
    BARS,
    DAILY,
    INTERVAL_SECONDS,
    INTERVALS,
    LATEST,
    QUARANTINE,
    RAW,
    RECORD_FIELDS,
    SESSIONS,
    SYMBOL_RE,
    TABLES,
    Column,
    format_sessions,
    parse_sessions,
    projection_properties,
)


@pytest.mark.parametrize("symbol", ["A", "IBM", "BRK.B", "BF-B", "0700", "ABCDEFGHIJKL"])
def test_symbols_the_contract_accepts(symbol: str) -> None:
    assert SYMBOL_RE.match(symbol)


@pytest.mark.parametrize(
    "symbol",
    ["", "msft", "MSFT\n", ".A", "-A", "A B", "ABCDEFGHIJKLM", "A/B", "../X", "A;DROP"],
)
def test_symbols_the_contract_refuses(symbol: str) -> None:
    assert SYMBOL_RE.match(symbol) is None


def test_intervals_and_their_lengths() -> None:
    assert INTERVALS == ("1min", "5min", "15min", "30min", "60min", "1day")
    assert [INTERVAL_SECONDS[i] for i in INTERVALS] == [60, 300, 900, 1800, 3600, 86_400]


def test_parse_sessions_orders_and_normalises() -> None:
    assert SESSIONS == ("pre", "regular", "post", "closed")
    assert parse_sessions("ALL") == ("pre", "regular", "post", "closed")
    assert parse_sessions(["post", " PRE ", "post"]) == ("pre", "post")
    assert parse_sessions("closed,regular,") == ("regular", "closed")


def test_parse_sessions_names_what_is_wrong() -> None:
    with pytest.raises(ValueError) as err:
        parse_sessions("zzz,regular,lunch")
    assert str(err.value) == (
        "lunch,zzz is not a choice of sessions: use 'all' or a comma-separated list of "
        "pre, regular, post, closed"
    )
    with pytest.raises(ValueError, match=r"^nothing is not a choice"):
        parse_sessions(" , ")
    with pytest.raises(ValueError, match=r"^all is not a choice"):
        parse_sessions("all,regular")  # `all` only on its own


def test_format_sessions_is_the_inverse_of_parse() -> None:
    assert format_sessions(("pre", "regular", "post", "closed")) == "all"
    assert format_sessions(["pre", "regular", "post", "closed"]) == "all"
    assert format_sessions(("regular",)) == "regular"
    assert parse_sessions(format_sessions(("pre", "post"))) == ("pre", "post")


@pytest.mark.parametrize(
    ("logical", "arrow", "athena", "duckdb", "tmdl"),
    [
        ("string", pa.string(), "string", "VARCHAR", "string"),
        ("double", pa.float64(), "double", "DOUBLE", "double"),
        ("bigint", pa.int64(), "bigint", "BIGINT", "int64"),
        ("int", pa.int32(), "int", "INTEGER", "int64"),
        ("timestamp", pa.timestamp("us", tz="UTC"), "timestamp", "TIMESTAMPTZ", "dateTime"),
    ],
)
def test_one_logical_type_maps_to_each_engine(
    logical: str, arrow: pa.DataType, athena: str, duckdb: str, tmdl: str
) -> None:
    col = Column("x", logical, "a column")
    assert (col.arrow_type, col.athena_type, col.duckdb_type, col.tmdl_type) == (
        arrow,
        athena,
        duckdb,
        tmdl,
    )
    assert col.nullable is True


def test_the_bars_table() -> None:
    assert (BARS.name, BARS.prefix, BARS.file_format) == ("bars", "processed-data/bars", "parquet")
    assert BARS.key == ("symbol", "interval", "ts")
    assert BARS.column_names == [
        "symbol", "interval", "ts", "open", "high", "low", "close", "volume", "source",
        "session", "change", "change_pct", "sma_5", "sma_20", "sma_50", "ema_12", "ema_26",
        "macd", "macd_signal", "macd_hist", "rsi_14", "bb_upper", "bb_middle", "bb_lower",
        "vwap", "session_high", "session_low", "ingest_shard", "ingest_seq",
    ]  # fmt: skip
    schema = BARS.arrow_schema()
    assert schema.names == BARS.column_names  # dt lives in the path, not in the file
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert schema.field("volume").type == pa.int64()
    required = [f.name for f in schema if not f.nullable]
    assert required == [
        "symbol", "interval", "ts", "open", "high", "low", "close", "volume", "session"
    ]  # fmt: skip
    assert [p.name for p in BARS.partitions] == ["dt"]


def test_column_lookup_covers_partitions_and_refuses_unknown_names() -> None:
    assert BARS.column("dt").description.startswith("Exchange-local session date")
    assert BARS.column("rsi_14").type == "double"
    assert RAW.column("hour").type == "string"
    with pytest.raises(KeyError):
        BARS.column("price")


def test_the_other_tables() -> None:
    assert TABLES == {
        "bars": BARS,
        "daily": DAILY,
        "quarantine": QUARANTINE,
        "raw": RAW,
        "latest": LATEST,
    }
    assert DAILY.prefix == "processed-data/daily" and DAILY.key == ("symbol", "dt")
    assert DAILY.column_names == [
        "symbol", "interval", "open", "high", "low", "close", "volume", "vwap", "change",
        "change_pct", "bar_count", "pre_volume", "post_volume",
    ]  # fmt: skip
    assert QUARANTINE.prefix == "quarantine"
    assert QUARANTINE.column_names == [
        "reason", "detail", "payload", "shard_id", "sequence_number", "arrival_ts"
    ]  # fmt: skip
    assert (RAW.prefix, RAW.file_format) == ("raw-data", "json")
    assert [p.name for p in RAW.partitions] == ["dt", "hour"]


def test_every_key_column_exists_in_its_table() -> None:
    for table in TABLES.values():
        names = {c.name for c in table.columns + table.partitions}
        assert set(table.key) <= names, table.name


def test_a_stream_record_carries_the_bar_columns_it_needs() -> None:
    assert RECORD_FIELDS[0] == "schema_version"
    assert list(RECORD_FIELDS[1:]) == BARS.column_names[:9]


def test_partition_projection_follows_the_partitions_in_path_order() -> None:
    # The rules are Athena's (docs: partition projection); the DDL and Glue both read them.
    dt = ["type", "format", "range", "interval", "interval.unit"]
    raw = projection_properties(RAW)
    assert list(raw) == [
        "projection.enabled",
        *(f"projection.dt.{key}" for key in dt),
        *(f"projection.hour.{key}" for key in ["type", "range", "digits"]),
    ]
    assert raw["projection.dt.range"] == "2024-01-01,NOW"
    assert (raw["projection.hour.range"], raw["projection.hour.digits"]) == ("0,23", "2")
    assert list(projection_properties(BARS)) == list(raw)[:6]


def test_a_partition_without_a_projection_rule_is_refused() -> None:
    table = replace(BARS, name="odd", partitions=(Column("region", "string", "Region"),))
    with pytest.raises(ValueError, match="'region' of table 'odd' has no projection"):
        projection_properties(table)
