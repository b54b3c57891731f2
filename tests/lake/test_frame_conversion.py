"""The frame <-> Arrow conversions of the processed zone (lake/partitions.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from stockpipe.lake.partitions import from_arrow, to_arrow

SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("volume", pa.int64()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("close", pa.float64()),
    ]
)


@pytest.mark.parametrize(
    "symbol",
    [
        pd.Series(["A", None, math.nan, pd.NA], dtype=object),
        pd.Series(["A", None, None, None], dtype="string"),
        pd.Series(["A", None, None, None], dtype="category"),
    ],
    ids=["object-none-nan-na", "string-dtype", "category"],
)
def test_every_kind_of_missing_text_is_null(symbol: pd.Series) -> None:
    frame = pd.DataFrame(
        {
            "symbol": symbol,
            "volume": [1.0, np.nan, 3.0, 4.0],  # ints with a NULL come as floats
            "ts": pd.to_datetime(["2026-03-02 15:00"] * 4, utc=True),
            "close": [1.5, np.nan, 2.5, 3.5],
        }
    )
    table = to_arrow(frame, SCHEMA)
    assert table.schema == SCHEMA
    assert table.column("symbol").to_pylist() == ["A", None, None, None]
    assert table.column("volume").to_pylist() == [1, None, 3, 4]
    assert table.column("close").null_count == 1


def test_numpy_ints_and_naive_times_convert_and_come_back_as_ns_utc() -> None:
    frame = pd.DataFrame(
        {
            "symbol": ["A", "B"],
            "volume": np.array([7, 2**40], dtype=np.int64),
            "ts": [
                "2026-03-02T15:00:00.000001",
                "2026-03-02T15:01:00.000000",
            ],  # text: parsed as UTC
            "close": [1.0, 2.0],
        }
    )
    table = to_arrow(frame, SCHEMA)
    assert table.column("volume").to_pylist() == [7, 2**40]
    back = from_arrow(table, SCHEMA)
    assert str(back["ts"].dtype) == "datetime64[ns, UTC]"
    assert back["ts"].tolist() == [
        pd.Timestamp("2026-03-02 15:00:00.000001", tz="UTC"),
        pd.Timestamp("2026-03-02 15:01", tz="UTC"),
    ]
    assert back["volume"].tolist() == [7, 2**40]


def test_a_file_with_naive_times_or_a_missing_column_reads_as_the_schema_says() -> None:
    old = pa.table({"symbol": ["A"], "ts": pa.array([0], pa.timestamp("ms"))})
    back = from_arrow(old, SCHEMA)
    assert list(back.columns) == ["symbol", "volume", "ts", "close"]
    assert str(back["ts"].dtype) == "datetime64[ns, UTC]"
    assert back["ts"].iat[0] == pd.Timestamp("1970-01-01", tz="UTC")
    assert back["volume"].isna().all()
