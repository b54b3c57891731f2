"""Partition files of the processed zone: one `part-0.parquet` per table and dt.

Rows never move between files: a row's file is fixed by its table and dt, so every
change is one atomic whole-object replace, and no crash can show a row twice. Other
writers (the PySpark job) may leave several files in a partition; reading merges them
and the next write (or `stockpipe compact`) folds them into part-0.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import pyarrow as pa

from stockpipe.errors import LakeError
from stockpipe.lake.base import Lake, safe_relpath

PART_NAME = "part-0.parquet"
DT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def partition_dir(prefix: str, dt: str) -> str:
    if not DT_RE.match(dt):
        raise LakeError(f"partition date {dt!r} is not YYYY-MM-DD")
    return safe_relpath(f"{prefix}/dt={dt}")


def list_partitions(lake: Lake, prefix: str) -> dict[str, list[str]]:
    """dt -> Parquet files of that partition, for every `prefix/dt=.../*.parquet`."""
    out: dict[str, list[str]] = {}
    depth = prefix.count("/") + 1
    for path in lake.list(prefix):
        parts = path.split("/")
        if not path.endswith(".parquet") or len(parts) != depth + 2:
            continue
        seg = parts[depth]
        if seg.startswith("dt=") and DT_RE.match(seg[3:]):
            out.setdefault(seg[3:], []).append(path)
    return out


def is_utc(col: pd.Series) -> bool:
    """True if `col` already holds timezone-aware UTC times (any unit)."""
    dtype = col.dtype
    return isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"


def as_utc(col: pd.Series) -> pd.Series:
    """`col` as UTC times, converted only if it is not already: `pd.to_datetime(...,
    utc=True)` on a UTC column still walks its values as Python objects (its cache
    check), which was 13.5% of the process stage's samples (issue 21)."""
    return col if is_utc(col) else pd.to_datetime(col, utc=True)


def to_arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """The frame's schema columns, typed exactly, NaN -> NULL, no pandas metadata."""
    arrays = []
    for f in schema:
        col = df[f.name] if f.name in df.columns else pd.Series([None] * len(df), dtype=object)
        if pa.types.is_integer(f.type):
            col = col.astype("Int64")
        elif pa.types.is_timestamp(f.type):
            col = as_utc(col)
        elif pa.types.is_string(f.type):
            col = col.astype(object).where(col.notna(), None)
        arrays.append(pa.array(col, type=f.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def from_arrow(table: pa.Table, schema: pa.Schema) -> pd.DataFrame:
    """A frame with every schema column (missing ones NULL), ts as ns UTC."""
    for f in schema:
        if f.name not in table.column_names:
            table = table.append_column(f.name, pa.nulls(len(table), f.type))
    df = table.select(schema.names).to_pandas()
    for f in schema:
        if pa.types.is_timestamp(f.type):
            df[f.name] = as_utc(df[f.name]).dt.as_unit("ns")
    return df


class PartitionSet:
    """The partitions of one table, loaded on demand and written back when changed."""

    def __init__(
        self,
        lake: Lake,
        prefix: str,
        schema: pa.Schema,
        sort_key: Callable[[pd.DataFrame], pd.DataFrame],
        dedupe: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    ) -> None:
        self.lake = lake
        self.prefix = prefix
        self.schema = schema
        self._sort = sort_key
        self._dedupe = dedupe
        self.files = list_partitions(lake, prefix)
        self._frames: dict[str, pd.DataFrame] = {}
        self.dirty: set[str] = set()

    def dts(self) -> list[str]:
        return sorted(set(self.files) | set(self._frames))

    def empty(self) -> pd.DataFrame:
        frame = from_arrow(self.schema.empty_table(), self.schema)
        frame["dt"] = pd.Series(dtype=object)
        return frame

    def get(self, dt: str) -> pd.DataFrame:
        """Every row of partition `dt` (with a `dt` column); empty if it does not exist."""
        if dt not in self._frames:
            frames = [
                from_arrow(self.lake.read_parquet(path), self.schema)
                for path in self.files.get(dt, [])
            ]
            frame = pd.concat(frames, ignore_index=True) if frames else self.empty()
            if len(frames) > 1 and self._dedupe is not None:
                frame = self._dedupe(frame)
            frame["dt"] = dt
            self._frames[dt] = frame
        return self._frames[dt]

    def retain(self, keep: int) -> None:
        """Forget the loaded partitions but the `keep` newest (a later `get` reads them
        again); staged ones must have been flushed."""
        if self.dirty:
            raise RuntimeError(f"{self.prefix}: unflushed partitions {sorted(self.dirty)}")
        for dt in sorted(self._frames)[: max(len(self._frames) - keep, 0)]:
            del self._frames[dt]

    def loaded(self) -> dict[str, pd.DataFrame]:
        """dt -> every row of each partition read or put so far (written ones as written)."""
        return dict(self._frames)

    def put(self, dt: str, frame: pd.DataFrame) -> None:
        partition_dir(self.prefix, dt)  # validates dt before it ever reaches a path
        self._frames[dt] = frame
        self.dirty.add(dt)

    def flush(self, *, descending: bool = False) -> list[str]:
        """Write every changed partition as one file; returns the paths written."""
        written = []
        for dt in sorted(self.dirty, reverse=descending):
            frame = self._sort(self._frames[dt]).reset_index(drop=True)
            path = f"{partition_dir(self.prefix, dt)}/{PART_NAME}"
            table = to_arrow(frame, self.schema)
            self.lake.write_parquet(path, table)
            # Kept as a read of the file would give it (types, order), not as staged.
            self._frames[dt] = from_arrow(table, self.schema).assign(dt=dt)
            written.append(path)
            # Files of other writers were merged into part-0 above: remove them now.
            for other in self.files.get(dt, []):
                if other != path:
                    self.lake.delete(other)
            self.files[dt] = [path]
        self.dirty.clear()
        return written
