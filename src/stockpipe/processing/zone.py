"""The processed zone as one batch sees it: bars, daily and quarantine partitions, and the
series index, each loaded once and written once.

`ProcessedZone` is what both paths of the engine (engine.py and the append fast path in
append.py) read stored rows from and stage new ones in: `append_rows` for rows with new
keys (written as one more data file), `put_rows` to replace a series' rows (the partition
is rewritten). `flush` writes them in the crash-safe order the engine relies on
(engine.py's docstring); `compact` merges the files of the partitions it holds.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from stockpipe.contract import BARS, DAILY, QUARANTINE
from stockpipe.lake import manifest
from stockpipe.lake.base import Lake
from stockpipe.lake.manifest import live_files
from stockpipe.lake.partitions import PartitionSet
from stockpipe.processing.base import (
    bars_file_schema,
    daily_file_schema,
    quarantine_file_schema,
    row_position,
)
from stockpipe.processing.workers import lake_workers, series_index_path
from stockpipe.stream.base import seq_key

# Which dts each series spans, so a batch never scans history to find a series' rows.
# Written before the data files and only ever widened, so after a crash it may name a
# dt that holds no rows of the series yet (harmless), never miss one that does.
# Each worker of `process --workers N` keeps its own (workers.py `series_index_path`).
SERIES_INDEX = series_index_path(manifest.DEFAULT_WRITER)

Series = tuple[str, str]


def _sort_bars(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["symbol", "interval", "ts"], kind="mergesort")


def _sort_daily(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["symbol", "interval"], kind="mergesort")


def _sort_quarantine(df: pd.DataFrame) -> pd.DataFrame:
    order = sorted(
        range(len(df)),
        key=lambda i: (df["shard_id"].iat[i], seq_key(df["sequence_number"].iat[i])),
    )
    return df.iloc[order]


def _dedupe_bars(df: pd.DataFrame) -> pd.DataFrame:
    """Several files in one partition: keep the last-arrived version of each key."""
    ranks = [row_position(s, q) for s, q in zip(df["ingest_shard"], df["ingest_seq"], strict=True)]
    order = sorted(range(len(df)), key=lambda i: ranks[i])
    return df.iloc[order].drop_duplicates(["symbol", "interval", "ts"], keep="last")


def load_series_index(lake: Lake, path: str = SERIES_INDEX) -> dict[str, list[str]]:
    """The series index: `"symbol|interval" -> [first dt, last dt]`."""
    try:
        return dict(json.loads(lake.read_bytes(path)))
    except FileNotFoundError:
        return index_from_bars(lake)


def index_from_bars(lake: Lake) -> dict[str, list[str]]:
    """The series index rebuilt from the bars files (a lake without one, or written by
    another engine). Daily cannot stand in: weekend and holiday bars have no daily row."""
    index: dict[str, list[str]] = {}
    for dt, paths in sorted(live_files(lake, BARS.prefix).items()):
        for path in paths:
            table = pq.read_table(io.BytesIO(lake.read_bytes(path)), columns=["symbol", "interval"])
            for pair in table.group_by(["symbol", "interval"]).aggregate([]).to_pylist():
                span = index.setdefault(f"{pair['symbol']}|{pair['interval']}", [dt, dt])
                span[0], span[1] = min(span[0], dt), max(span[1], dt)
    return index


class ProcessedZone:
    """One batch's view of the processed zone: partitions loaded once, written once."""

    def __init__(self, lake: Lake, writer: str = manifest.DEFAULT_WRITER) -> None:
        self.lake = lake
        # The append path's index of each bars partition by series, kept with the zone
        # across batches (processing/append.py `_View`); dropped with it.
        self.views: dict[str, Any] = {}
        self.bars = PartitionSet(
            lake, BARS.prefix, bars_file_schema(), _sort_bars, _dedupe_bars, writer=writer
        )
        self.daily = PartitionSet(
            lake,
            DAILY.prefix,
            daily_file_schema(),
            _sort_daily,
            lambda df: df.drop_duplicates(["symbol", "interval"], keep="last"),
            writer=writer,
        )
        self.quarantine = PartitionSet(
            lake,
            QUARANTINE.prefix,
            quarantine_file_schema(),
            _sort_quarantine,
            lambda df: df.drop_duplicates(["shard_id", "sequence_number"]),
            writer=writer,
        )
        self.index_path = series_index_path(writer)
        self.index = load_series_index(lake, self.index_path)
        self.index_dirty = False
        # Bars partitions split by series once, so a series' rows are a dict lookup, not
        # a mask over the whole day; dirty ones are reassembled for the write at flush.
        self._split: dict[str, dict[Series, pd.DataFrame]] = {}
        self._no_rows: dict[str, pd.DataFrame] = {}
        self._split_dirty: set[str] = set()

    def span(self, series: Series) -> tuple[str, str] | None:
        """The first and last dt that may hold rows of `series` (None: no rows yet)."""
        found = self.index.get(f"{series[0]}|{series[1]}")
        return (found[0], found[1]) if found else None

    def widen(self, series: Series, first: str, last: str) -> None:
        key = f"{series[0]}|{series[1]}"
        old = self.index.get(key)
        new = [min(first, old[0]), max(last, old[1])] if old else [first, last]
        if new != old:
            self.index[key] = new
            self.index_dirty = True

    def _series_rows(self, dt: str) -> dict[Series, pd.DataFrame]:
        split = self._split.get(dt)
        if split is None:
            frame = self.bars.get(dt)
            split = {}
            if len(frame):
                grouped = frame.groupby(["symbol", "interval"], sort=False, dropna=False)
                for key, part in grouped:
                    split[(key[0], key[1])] = part
            self._split[dt] = split
            self._no_rows[dt] = frame.iloc[:0]
        return split

    def rows(self, dt: str, series: Series) -> pd.DataFrame:
        """The stored rows of `series` in bars partition `dt` (staged ones included)."""
        found = self._series_rows(dt).get(series)
        return found if found is not None else self._no_rows[dt]

    def put_rows(self, dt: str, series: Series, rows: pd.DataFrame) -> None:
        """Replace every row of `series` in bars partition `dt`: the partition is
        rewritten at flush."""
        self._series_rows(dt)[series] = rows
        self._split_dirty.add(dt)

    def append_rows(self, dt: str, rows: pd.DataFrame) -> None:
        """Add bars whose keys partition `dt` does not hold yet (of any series): written
        at flush as one more data file of the partition, unless it is rewritten anyway."""
        self._stage_bars()  # series rows staged so far come first, as the split had them
        self.bars.append(dt, rows)
        self._split.pop(dt, None)
        self._no_rows.pop(dt, None)

    def _stage_bars(self) -> None:
        # The file is sorted by (symbol, interval, ts) at flush, so the order in which
        # the series are put back together here does not show in it.
        for dt in sorted(self._split_dirty):
            parts = [p for p in self._split[dt].values() if len(p)]
            frame = pd.concat(parts, ignore_index=True) if parts else self._no_rows[dt]
            self.bars.put(dt, frame)
        self._split_dirty.clear()

    def flush(self) -> None:
        """Write what the batch staged: quarantine, the index, daily, then bars from the
        latest dt back."""
        self._stage_bars()
        self.quarantine.flush()
        if self.index_dirty:
            doc = dict(sorted(self.index.items()))
            self.lake.write_bytes(self.index_path, json.dumps(doc, indent=0).encode())
            self.index_dirty = False
        self.daily.flush()
        rewritten = set(self.bars.dirty)
        self.bars.flush(descending=True)
        # The split of a rewritten partition is rebuilt from its rows as written.
        for dt in rewritten:
            self._split.pop(dt, None)
            self._no_rows.pop(dt, None)

    def compact(self) -> list[str]:
        """Merge the files of every partition held in memory into one each (nothing is
        read); returns the data files written. Call after `flush`."""
        written = []
        for part in self.parts():
            for dt in sorted(part.loaded()):
                part.compact(dt)
            if part is self.bars:
                for dt in part.dirty:
                    self._split.pop(dt, None)
                    self._no_rows.pop(dt, None)
            written += part.flush()
        return written

    def delete_orphans(self) -> list[str]:
        """At start-up: delete this writer's data files no manifest names, older than the
        grace period (a crash between a data file and its manifest leaves one)."""
        return [path for part in self.parts() for path in part.delete_unreferenced()]

    def parts(self) -> tuple[PartitionSet, PartitionSet, PartitionSet]:
        return (self.quarantine, self.daily, self.bars)

    def retain(self, keep: int) -> None:
        """After a flush: keep the `keep` newest partitions of each table in memory for the
        next batch (issue 21 item 1); older ones are read from the lake again if needed."""
        for part in self.parts():
            part.retain(keep)
        for dt in [d for d in self._split if d not in self.bars.loaded()]:
            del self._split[dt], self._no_rows[dt]


def processed_partitions(
    lake: Lake, writer: str = manifest.DEFAULT_WRITER
) -> dict[str, PartitionSet]:
    """The bars, daily and quarantine partition sets of `writer`, with their sort and
    dedupe rules."""
    zone = ProcessedZone(lake, writer)
    return {"bars": zone.bars, "daily": zone.daily, "quarantine": zone.quarantine}


def every_writer_partitions(lake: Lake) -> dict[str, PartitionSet]:
    """The partition sets of every writer of the lake (`stockpipe compact`): `bars`,
    `daily`, `quarantine` of w0, then `bars w1`, ... of each other worker."""
    out: dict[str, PartitionSet] = {}
    for k in range(lake_workers(lake)):
        writer = f"w{k}"
        for name, part in processed_partitions(lake, writer).items():
            out[name if writer == manifest.DEFAULT_WRITER else f"{name} {writer}"] = part
    return out
