"""Partitions of the processed zone: immutable data files named by a manifest.

A batch changes a (table, dt) partition in one of two ways (docs/processing.md, "Lake
layout and crash safety"): an *append* writes only its new rows as the writer's next data
file and publishes the manifest = the previous files + the new one; a *rewrite* writes
every row as one new file and publishes the manifest naming only it. Either way the
manifest write is the one commit point (manifest.py), so a reader sees all of a batch's
rows in the partition or none. Files a manifest stops naming are deleted after a grace
period, since a reader that read the old manifest a moment ago may still be reading them.

A partition without a manifest (written before manifests) is read as before: all its
files, deduplicated; its first write is a rewrite.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable

import pandas as pd
import pyarrow as pa

from stockpipe.errors import LakeError
from stockpipe.lake import manifest
from stockpipe.lake.base import Lake, safe_relpath

#: The one file of a partition written before manifests (still read; never written now).
PART_NAME = "part-0.parquet"
DT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: How long a file a manifest no longer names is kept for readers that listed it.
SUPERSEDED_GRACE_S = 60.0


def partition_dir(prefix: str, dt: str) -> str:
    if not DT_RE.match(dt):
        raise LakeError(f"partition date {dt!r} is not YYYY-MM-DD")
    return safe_relpath(f"{prefix}/dt={dt}")


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
            # numpy ints hold no NULL and convert as they are; floats (NaN) go through Int64
            col = col if col.dtype.kind in "iu" else col.astype("Int64")
        elif pa.types.is_timestamp(f.type):
            col = as_utc(col)
        elif pa.types.is_string(f.type) and col.dtype != object:
            col = col.astype(object).where(col.notna(), None)
        # from_pandas: None, NaN and pd.NA in an object column are NULL (no copy needed)
        arrays.append(pa.array(col, type=f.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def from_arrow(table: pa.Table, schema: pa.Schema) -> pd.DataFrame:
    """A frame with every schema column (missing ones NULL), ts as ns UTC."""
    for f in schema:
        if f.name not in table.column_names:
            table = table.append_column(f.name, pa.nulls(len(table), f.type))
    # Times come as ns from the conversion itself: setting a column afterwards copies
    # the frame's blocks (half the cost of a read, issue 21).
    df = table.select(schema.names).to_pandas(coerce_temporal_nanoseconds=True)
    for f in schema:
        if pa.types.is_timestamp(f.type) and not _utc_ns(df[f.name]):
            df[f.name] = as_utc(df[f.name]).dt.as_unit("ns")
    return df


def _utc_ns(col: pd.Series) -> bool:
    return is_utc(col) and col.dtype.unit == "ns"


class PartitionSet:
    """The partitions of one table as one writer sees them: loaded on demand, changed
    rows staged as appends or rewrites, written back at `flush`.

    The set reads the files its writer's manifest names (every file of a partition
    without manifests): a writer's rows are its own, so workers never rewrite each
    other's files.
    """

    def __init__(
        self,
        lake: Lake,
        prefix: str,
        schema: pa.Schema,
        sort_key: Callable[[pd.DataFrame], pd.DataFrame],
        dedupe: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
        *,
        writer: str = manifest.DEFAULT_WRITER,
    ) -> None:
        self.lake = lake
        self.prefix = prefix
        self.schema = schema
        self.writer = manifest.check_writer(writer)
        self._sort = sort_key
        self._dedupe = dedupe
        self.parts = manifest.scan(lake, prefix)
        #: dt -> the data files this set reads (non-empty partitions only)
        self.files = {dt: own for dt, part in self.parts.items() if (own := self._own(part))}
        self._frames: dict[str, pd.DataFrame] = {}
        self.dirty: set[str] = set()  # partitions to rewrite
        self._appended: dict[str, int] = {}  # dt -> rows appended at the end of its frame
        # Appended rows not yet concatenated to their frame: a live batch appends and
        # flushes without reading the partition, so the day is copied once, at flush.
        self._pending: dict[str, list[pd.DataFrame]] = {}
        self._next: dict[str, int] = {}  # dt -> number of the writer's next data file
        #: the partitions the last `flush` wrote, and of those it appended to, the rows
        #: it added (as read back; the partition's other rows are as they were)
        self.flushed: set[str] = set()
        self.added: dict[str, pd.DataFrame] = {}
        #: (time.monotonic() when superseded, path) of files no manifest names any more
        self.superseded: list[tuple[float, str]] = []

    def _own(self, part: manifest.Partition) -> list[str]:
        if part.manifested:
            return list(part.manifests.get(self.writer, []))
        # A partition without manifests is w0's (legacy files, never another worker's).
        if self.writer != manifest.DEFAULT_WRITER:
            return []
        return [f for f in part.stored if manifest.data_writer(f) in (None, self.writer)]

    def _legacy(self, dt: str) -> bool:
        part = self.parts.get(dt)
        return part is not None and not part.manifested and bool(self._own(part))

    def dts(self) -> list[str]:
        return sorted(set(self.files) | set(self._frames))

    def empty(self) -> pd.DataFrame:
        frame = from_arrow(self.schema.empty_table(), self.schema)
        frame["dt"] = pd.Series(dtype=object)
        return frame

    def get(self, dt: str) -> pd.DataFrame:
        """Every row of partition `dt` (with a `dt` column); empty if it does not exist.
        Rows come in manifest order (files by name, rows in file order)."""
        if dt not in self._frames:
            frames = [
                from_arrow(self.lake.read_parquet(path), self.schema)
                for path in self.files.get(dt, [])
            ]
            frame = pd.concat(frames, ignore_index=True) if frames else self.empty()
            # A manifest's files are disjoint by construction; legacy ones may overlap.
            if len(frames) > 1 and self._dedupe is not None and self._legacy(dt):
                frame = self._dedupe(frame)
            frame["dt"] = dt
            self._frames[dt] = frame
        if dt in self._pending:
            parts = [self._frames[dt], *self._pending.pop(dt)]
            self._frames[dt] = pd.concat(parts, ignore_index=True)
        return self._frames[dt]

    def retain(self, keep: int) -> None:
        """Forget the loaded partitions but the `keep` newest (a later `get` reads them
        again); staged ones must have been flushed."""
        if self.dirty or self._appended:
            staged = sorted(self.dirty | set(self._appended))
            raise RuntimeError(f"{self.prefix}: unflushed partitions {staged}")
        for dt in sorted(self._frames)[: max(len(self._frames) - keep, 0)]:
            del self._frames[dt]

    def loaded(self) -> dict[str, pd.DataFrame]:
        """dt -> every row of each partition read or put so far (written ones as written)."""
        return {dt: self.get(dt) for dt in self._frames}

    def put(self, dt: str, frame: pd.DataFrame) -> None:
        """Replace every row of partition `dt`: a rewrite at flush."""
        partition_dir(self.prefix, dt)  # validates dt before it ever reaches a path
        self._frames[dt] = frame
        self._appended.pop(dt, None)
        self._pending.pop(dt, None)
        self.dirty.add(dt)

    def append(self, dt: str, rows: pd.DataFrame) -> None:
        """Add rows whose keys partition `dt` does not hold: written at flush as one new
        data file next to the others (a rewrite if the partition is rewritten anyway)."""
        if rows.empty:
            return
        rows = rows.assign(dt=dt)
        if dt in self.dirty or self._legacy(dt):
            stored = self.get(dt)
            self.put(dt, pd.concat([stored, rows], ignore_index=True) if len(stored) else rows)
            return
        if dt not in self._frames:
            self.get(dt)
        if not len(self._frames[dt]) and dt not in self._pending:
            self._frames[dt] = rows.reset_index(drop=True)
        else:
            self._pending.setdefault(dt, []).append(rows)
        self._appended[dt] = self._appended.get(dt, 0) + len(rows)

    def compact(self, dt: str) -> bool:
        """Stage a rewrite of partition `dt` if it has several files (written at flush)."""
        if len(self.files.get(dt, [])) < 2 or dt in self.dirty:
            return False
        self.put(dt, self.get(dt))
        return True

    def flush(self, *, descending: bool = False) -> list[str]:
        """Write every staged partition (data file, then manifest); returns the data files
        written. Superseded files past their grace are deleted first."""
        self.reap()
        written = []
        self.flushed = self.dirty | set(self._appended)
        self.added = {}
        for dt in sorted(self.flushed, reverse=descending):
            written.append(self._rewrite(dt) if dt in self.dirty else self._append(dt))
        self.dirty.clear()
        self._appended.clear()
        self._pending.clear()
        return written

    def _rewrite(self, dt: str) -> str:
        frame = self._sort(self._frames[dt]).reset_index(drop=True)
        table = to_arrow(frame, self.schema)
        path = self._write(dt, table)
        old = self.files.get(dt, [])
        self._publish(dt, [path])
        self._supersede(f for f in old if f != path)
        # Kept as a read of the file would give it (types, order), not as staged.
        self._frames[dt] = from_arrow(table, self.schema).assign(dt=dt)
        return path

    def _append(self, dt: str) -> str:
        frame, pending = self._frames[dt], self._pending.pop(dt, [])
        cut = len(frame) - (self._appended[dt] - sum(len(p) for p in pending))
        stored = frame if cut == len(frame) else frame.iloc[:cut]
        parts = [*([frame.iloc[cut:]] if cut < len(frame) else []), *pending]
        rows = parts[0] if len(parts) == 1 else pd.concat(parts)
        table = to_arrow(self._sort(rows).reset_index(drop=True), self.schema)
        path = self._write(dt, table)
        self._publish(dt, [*self.files.get(dt, []), path])
        # A read lists the new file last (numbers grow), so it gives these rows last.
        new = from_arrow(table, self.schema).assign(dt=dt)
        self._frames[dt] = pd.concat([stored, new], ignore_index=True) if cut else new
        self.added[dt] = new
        return path

    def _write(self, dt: str, table: pa.Table) -> str:
        part = self.parts.setdefault(dt, manifest.Partition(dt))
        if dt not in self._next:
            self._next[dt] = manifest.next_number(part.stored, self.writer)
        if not part.manifested and len(part.stored) <= 1:
            # Name what readers read now before adding a file, so that a crash before
            # the manifest below leaves the new file unnamed, not counted as legacy.
            self._publish(dt, self._own(part))
        path = manifest.data_file(self.prefix, dt, self.writer, self._next[dt])
        self._next[dt] += 1
        self.lake.write_parquet(path, table)
        if path not in part.stored:
            part.stored.append(path)
        return path

    def _publish(self, dt: str, files: list[str]) -> None:
        manifest.publish(self.lake, self.prefix, dt, self.writer, files)
        self.parts[dt].manifests[self.writer] = sorted(files)
        self.files[dt] = sorted(files)
        if not files:
            del self.files[dt]

    def _supersede(self, paths: Iterable[str]) -> None:
        now = time.monotonic()
        self.superseded.extend((now, p) for p in paths)

    def reap(self) -> list[str]:
        """Delete the superseded files older than the grace period; returns them."""
        cutoff = time.monotonic() - SUPERSEDED_GRACE_S
        due = [p for t, p in self.superseded if t <= cutoff]
        for path in due:
            self._forget(path)
            self.lake.delete(path)
        self.superseded = [(t, p) for t, p in self.superseded if t > cutoff]
        return due

    def delete_unreferenced(self, *, any_writer: bool = False) -> list[str]:
        """Delete the files of manifested partitions that no manifest names, once no
        reader can still be reading them: this writer's (`any_writer`: anyone's). Returns
        them.

        A file written more than the grace period ago goes if it was never published
        (numbered above every file its writer's manifest names: left by a crash between
        a data file and its manifest), or if every manifest of the partition is older
        than the grace period (it was superseded no later than that).
        """
        cutoff = time.time() - SUPERSEDED_GRACE_S
        deleted = []
        for dt, part in self.parts.items():
            settled: bool | None = None  # every manifest older than the grace (lazy)
            for path in part.unreferenced():
                writer = manifest.data_writer(path)
                if not any_writer and writer != self.writer:
                    continue
                written = manifest.modified(self.lake, path)
                if written is None or written > cutoff:
                    continue
                if not self._never_published(part, path, writer):
                    if settled is None:
                        settled = self._manifests_older_than(dt, part, cutoff)
                    if not settled:
                        continue
                self._forget(path)
                self.lake.delete(path)
                deleted.append(path)
        return deleted

    @staticmethod
    def _never_published(part: manifest.Partition, path: str, writer: str | None) -> bool:
        # A writer's manifest always names the highest-numbered file it ever published.
        if writer is None:
            return False
        named = [manifest.data_number(f, writer) for f in part.manifests.get(writer, [])]
        number = manifest.data_number(path, writer)
        return number is not None and number > max((n for n in named if n is not None), default=0)

    def _manifests_older_than(self, dt: str, part: manifest.Partition, cutoff: float) -> bool:
        for writer in part.manifests:
            written = manifest.modified(self.lake, manifest.manifest_path(self.prefix, dt, writer))
            if written is None or written > cutoff:
                return False
        return True

    def _forget(self, path: str) -> None:
        for part in self.parts.values():
            if path in part.stored:
                part.stored.remove(path)
