"""The `latest` table: per symbol, interval and session date, the date's newest bar.

The dashboard's "latest quote" queries read it instead of every bar. It is derived from
bars only, one small Parquet file rewritten whole (an atomic replace) after each batch.

Each row is a function of one bars partition, so an update recomputes the rows of the
partitions a batch wrote (or, with no table held from the last batch, every one it read)
and keeps the others: the file always equals `rebuild_latest` (a full recompute from the
bars files). A late bar only changes its own date's row, and it becomes the newest bar
only if its time is. The writers call it after their bars are durable and before the
stream checkpoint, so a crash in between replays the batch, which loads the same
partitions and writes the rows again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

import pandas as pd

from stockpipe.contract import BARS, LATEST
from stockpipe.lake import manifest
from stockpipe.lake.base import Lake
from stockpipe.lake.manifest import live_files
from stockpipe.lake.partitions import PartitionSet, as_utc, from_arrow, to_arrow

LATEST_FILE = f"{LATEST.prefix}/part-0.parquet"
#: Dates whose bars a Spark batch is about to write, until their rows are recomputed.
PENDING = "_state/processing/latest-pending.json"
_KEYS = ["symbol", "interval"]
#: The newest bar's columns, copied from bars under the same names.
_NEWEST = ("ts", "open", "high", "low", "close", "volume", "vwap", "session_high", "session_low")
#: The bars columns a row is computed from.
BARS_COLUMNS = sorted({*_KEYS, *_NEWEST})


def latest_file(writer: str) -> str:
    """The `latest` file a writer keeps: w0 the single-process `part-0.parquet`, worker k
    of `process --workers N` `w{k}.parquet` (its series only; readers read every file)."""
    if manifest.check_writer(writer) == manifest.DEFAULT_WRITER:
        return LATEST_FILE
    return f"{LATEST.prefix}/{writer}.parquet"


def latest_rows(bars: pd.DataFrame, dt: str) -> pd.DataFrame:
    """The rows of session date `dt` from every bar of its partition (any order)."""
    if bars.empty:
        return from_arrow(LATEST.arrow_schema().empty_table(), LATEST.arrow_schema())
    # Only the columns a row needs (a partition frame is ~40 columns wide), oldest first:
    # a group's head and tail rows are then its first and newest bars, NULLs and all.
    ordered = bars[BARS_COLUMNS].assign(ts=as_utc(bars["ts"])).sort_values("ts", kind="mergesort")
    groups = ordered.groupby(_KEYS, sort=False)
    first = groups.head(1).set_index(_KEYS)
    out = groups.tail(1).set_index(_KEYS)[list(_NEWEST)]
    out = out.assign(dt=dt, first_ts=first["ts"], day_open=first["open"], bar_count=groups.size())
    return out.reset_index()[LATEST.column_names]


def read_latest(lake: Lake, path: str = LATEST_FILE) -> pd.DataFrame | None:
    """The stored table, or None when it was never written (or a reprocess deleted it)."""
    try:
        table = lake.read_parquet(path)
    except FileNotFoundError:
        return None
    return from_arrow(table, LATEST.arrow_schema())


def _write(lake: Lake, parts: Iterable[pd.DataFrame], path: str = LATEST_FILE) -> pd.DataFrame:
    """Replace the table; returns it as a read of the new file would (the engine keeps it)."""
    frames = [p for p in parts if len(p)]
    if frames:
        frame = pd.concat(frames, ignore_index=True)
        frame = frame.sort_values([*_KEYS, "dt"], kind="mergesort").reset_index(drop=True)
    else:
        frame = from_arrow(LATEST.arrow_schema().empty_table(), LATEST.arrow_schema())
    table = to_arrow(frame, LATEST.arrow_schema())
    lake.write_parquet(path, table)
    return from_arrow(table, LATEST.arrow_schema())


def _update(
    lake: Lake,
    fresh: Mapping[str, pd.DataFrame],
    all_dts: set[str],
    load: Callable[[str], pd.DataFrame],
    stored: pd.DataFrame | None,
    path: str = LATEST_FILE,
) -> pd.DataFrame:
    """Recompute the rows of the dates in `fresh` (dt -> every bar of it), keep the stored
    rows of the other dates in `all_dts`, drop the rest. A lake without the table yet (one
    from before it, or just reprocessed) gets every date, loading the others with `load`."""
    if stored is None:
        bars = {dt: fresh[dt] if dt in fresh else load(dt) for dt in sorted(all_dts)}
        return _write(lake, [latest_rows(frame, dt) for dt, frame in bars.items()], path)
    keep = stored[stored["dt"].isin(all_dts - set(fresh))]
    fresh_rows = (latest_rows(frame, dt) for dt, frame in sorted(fresh.items()))
    return _write(lake, [keep, *fresh_rows], path)


def _read_bars(lake: Lake, paths: Iterable[str]) -> pd.DataFrame:
    """The bars of one partition (every file of it, as the SQL engines read them)."""
    schema = BARS.arrow_schema()
    frames = [from_arrow(lake.read_parquet(p).select(BARS_COLUMNS), schema) for p in paths]
    if not frames:
        return from_arrow(schema.empty_table(), schema)
    return pd.concat(frames, ignore_index=True)


def update_latest(lake: Lake, bars: PartitionSet, held: pd.DataFrame | None = None) -> pd.DataFrame:
    """The embedded engine's hook, after a batch's bars are flushed: the partitions it
    loaded (the batch's dates and every one it rewrote) are in memory already. `held` is
    the table as this function last returned it (the engine keeps it between batches, so
    a live batch reads nothing back); None reads the stored file. Each writer keeps its
    own file (`latest_file`): its partition set holds its series only.

    With `held`, only the partitions the last flush wrote are recomputed: `held` already
    equals every other one. Without it, every loaded partition is: a replay of a batch
    whose bars were durable before a crash writes nothing, but loads them.
    """
    path = latest_file(bars.writer)
    all_dts = set(bars.dts())
    if held is None:
        return _update(
            lake,
            bars.loaded(),
            all_dts,
            lambda dt: _read_bars(lake, bars.files.get(dt, [])),
            read_latest(lake, path),
            path,
        )
    if not bars.flushed and held["dt"].isin(all_dts).all():
        return held  # nothing changed: the file already holds `held`
    fresh = {dt: _rows_after_flush(held, bars, dt) for dt in sorted(bars.flushed)}
    keep = held[held["dt"].isin(all_dts - set(fresh))]
    return _write(lake, [keep, *fresh.values()], path)


def _rows_after_flush(held: pd.DataFrame, bars: PartitionSet, dt: str) -> pd.DataFrame:
    """The rows of `dt` after the last flush: recomputed from a rewritten partition; for
    one appended to, `held`'s rows combined with those of the added bars alone (new keys,
    the other bars unchanged), so a live batch does not walk the whole day."""
    added = bars.added.get(dt)
    if added is None:
        return latest_rows(bars.get(dt), dt)
    return _combine(held[held["dt"] == dt], latest_rows(added, dt))


def _combine(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """The rows of one date from the rows of two disjoint sets of its bars: the first bar
    of the two firsts, the newest of the two newest, the counts summed."""
    if old.empty:
        return new
    both = pd.concat([old[LATEST.column_names], new], ignore_index=True)
    newest = both.sort_values("ts", kind="mergesort").groupby(_KEYS, sort=False).tail(1)
    first = both.sort_values("first_ts", kind="mergesort").groupby(_KEYS, sort=False).head(1)
    out = newest.set_index(_KEYS)
    first = first.set_index(_KEYS)
    counts = both.groupby(_KEYS, sort=False)["bar_count"].sum()
    out = out.assign(first_ts=first["first_ts"], day_open=first["day_open"], bar_count=counts)
    return out.reset_index()[LATEST.column_names]


def _pending(lake: Lake) -> set[str]:
    try:
        return set(json.loads(lake.read_bytes(PENDING)))
    except FileNotFoundError:
        return set()


def mark_latest_pending(lake: Lake, dts: Iterable[str]) -> None:
    """Before a Spark batch writes bars: remember their dates, so that a crash before
    `flush_latest` leaves them to the next attempt even if it finds nothing to write."""
    dates = _pending(lake) | set(dts)
    lake.write_bytes(PENDING, json.dumps(sorted(dates)).encode())


def flush_latest(lake: Lake) -> None:
    """Recompute the rows of the pending dates from the bars files (the Spark writers'
    hook, after their bars are durable and when a batch starts), then forget them."""
    dates = _pending(lake)
    if not dates:
        return
    files = live_files(lake, BARS.prefix)
    fresh = {dt: _read_bars(lake, files.get(dt, [])) for dt in dates}
    _update(lake, fresh, set(files), lambda dt: _read_bars(lake, files[dt]), read_latest(lake))
    lake.delete(PENDING)


def rebuild_latest(lake: Lake) -> None:
    """The whole table recomputed from every bars partition."""
    files = live_files(lake, BARS.prefix)
    _write(lake, [latest_rows(_read_bars(lake, paths), dt) for dt, paths in sorted(files.items())])
