"""Manifested partitions written by hand, for the tests of the readers (issue 21 item 2).

`ManifestWriter` writes the way the engine's writer does: data files first, then the
partition's manifest; a compaction merges the files into one, publishes it, and deletes
the old ones (at once here, or never, to leave superseded files on disk).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from stockpipe.contract import BARS, Table
from stockpipe.lake import manifest
from stockpipe.lake.base import Lake

BASE = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def bars(first: int, n: int, symbol: str = "AAPL") -> pa.Table:
    """`n` bars of `symbol`, one minute apart from minute `first` after BASE (unique keys);
    bar i has volume 100 + i."""
    rows = []
    for i in range(first, first + n):
        row: dict[str, object] = {f.name: None for f in BARS.arrow_schema()}
        ts = BASE + timedelta(minutes=i)
        row.update(symbol=symbol, interval="1min", ts=ts, open=1.0, high=2.0, low=0.5)
        row.update(close=1.5, volume=100 + i, session="regular")
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=BARS.arrow_schema())


def one_row(table: Table) -> pa.Table:
    """One row of any table of the contract, every column set."""

    def value(field: pa.Field) -> object:
        if pa.types.is_string(field.type):
            return "x"
        if pa.types.is_timestamp(field.type):
            return BASE
        return 1

    schema = table.arrow_schema()
    return pa.Table.from_pylist([{f.name: value(f) for f in schema}], schema=schema)


class ManifestWriter:
    """One writer (`w0`) of one table's partitions."""

    def __init__(self, lake: Lake, table: Table = BARS) -> None:
        self.lake, self.prefix = lake, table.prefix
        self.files: dict[str, list[str]] = {}
        self.numbers: dict[str, int] = {}

    def next_file(self, dt: str) -> str:
        """The path of the next data file of partition `dt` (not written)."""
        self.numbers[dt] = self.numbers.get(dt, 0) + 1
        return manifest.data_file(self.prefix, dt, "w0", self.numbers[dt])

    def append(self, dt: str, rows: pa.Table) -> str:
        path = self.next_file(dt)
        self.lake.write_parquet(path, rows)
        self.files[dt] = [*self.files.get(dt, []), path]
        manifest.publish(self.lake, self.prefix, dt, "w0", self.files[dt])
        return path

    def compact(self, dt: str, *, delete: bool = True) -> list[str]:
        """Merge the partition's files into one; returns the files it replaced."""
        old = self.files[dt]
        merged = pa.concat_tables([self.lake.read_parquet(p) for p in old])
        path = self.next_file(dt)
        self.lake.write_parquet(path, merged)
        self.files[dt] = [path]
        manifest.publish(self.lake, self.prefix, dt, "w0", [path])
        if delete:
            for p in old:
                self.lake.delete(p)
        return old
