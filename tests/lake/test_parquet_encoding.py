"""Lake Parquet files dictionary-encode only their text columns (issue 21 item 3)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stockpipe.lake.base import dictionary_columns
from stockpipe.lake.local import LocalLake

_DICT = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}


def _encodings(lake: LocalLake, path: str) -> dict[str, set[str]]:
    meta = pq.ParquetFile(io.BytesIO(lake.read_bytes(path))).metadata
    group = meta.row_group(0)
    return {
        group.column(i).path_in_schema: set(group.column(i).encodings)
        for i in range(group.num_columns)
    }


def test_only_text_columns_get_a_dictionary_and_values_round_trip(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    ts = [datetime(2026, 3, 9, 13, 30 + i, tzinfo=UTC) for i in range(6)]
    table = pa.table(
        {
            "symbol": pa.array(["AAA", "BBB"] * 3, pa.string()),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "close": pa.array([10.5, 20.25, 10.75, 20.5, 11.0, 20.75], pa.float64()),
            "volume": pa.array([100, 200, 300, 400, 500, 600], pa.int64()),
            "session": pa.array(["regular"] * 6, pa.string()),
        }
    )
    lake.write_parquet("processed-data/t/dt=2026-03-09/part-0.parquet", table)
    enc = _encodings(lake, "processed-data/t/dt=2026-03-09/part-0.parquet")
    assert enc["symbol"] & _DICT and enc["session"] & _DICT
    for name in ("ts", "close", "volume"):
        assert not enc[name] & _DICT, (name, enc[name])
    back = lake.read_parquet("processed-data/t/dt=2026-03-09/part-0.parquet")
    assert back.equals(table)


def test_a_table_without_text_columns_is_written_without_dictionaries(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    table = pa.table({"x": pa.array([1.0, 1.0, 2.0]), "n": pa.array([7, 7, 7], pa.int64())})
    assert dictionary_columns(table.schema) is False
    lake.write_parquet("t/part-0.parquet", table)
    enc = _encodings(lake, "t/part-0.parquet")
    assert not (enc["x"] | enc["n"]) & _DICT
    assert lake.read_parquet("t/part-0.parquet").to_pydict() == {"x": [1.0, 1.0, 2.0], "n": [7] * 3}


def test_dictionary_columns_names_the_string_fields_in_schema_order() -> None:
    schema = pa.schema(
        [
            ("a", pa.float64()),
            ("s", pa.string()),
            ("t", pa.timestamp("us", tz="UTC")),
            ("big", pa.large_string()),
            ("n", pa.int64()),
        ]
    )
    assert dictionary_columns(schema) == ["s", "big"]
