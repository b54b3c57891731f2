"""The embedded processing engine: stream records -> bars, daily and quarantine in the lake.

Per batch: clean; merge each (symbol, interval, ts) key with what is stored (the version
that arrived last wins); for each series, recompute from its earliest changed bar to its
end, resuming the kernel from the state stored in the bar just before; append the new
rows of a partition, or rewrite the partitions whose stored rows changed. `process`
returns once all of it is durable.

Crash safety: partitions are committed (data file, then manifest) in an order that makes
a re-run after any crash finish the job. Quarantine and daily first, then bars from the
latest dt back to the earliest; the earliest bars partition of a series holds its changed
bars, so until its manifest is published a replay still sees them as new and recomputes
everything after them.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from stockpipe import calendar
from stockpipe.contract import BARS, DAILY, INDICATOR_COLUMNS, LATEST, QUARANTINE, SESSIONS
from stockpipe.lake import manifest
from stockpipe.lake.base import Lake
from stockpipe.lake.memory import MemoryLake
from stockpipe.lake.partitions import as_utc
from stockpipe.lake.raw import iter_raw
from stockpipe.processing.append import append_batch
from stockpipe.processing.base import (
    NO_POSITION,
    ORDINAL,
    STATE_COLUMNS,
    BatchStats,
    CleanBar,
    QuarantineRow,
    position,
    row_position,
)
from stockpipe.processing.cleaning import clean_columns
from stockpipe.processing.frames import BatchKeys, bars_frame
from stockpipe.processing.indicators import (
    CONTEXT,
    IndicatorState,
    compute_daily,
    compute_indicators,
    indicator_mask,
)
from stockpipe.processing.latest import update_latest
from stockpipe.processing.sessions import RECORD, settle_indicator_sessions
from stockpipe.processing.workers import RECORD as WORKERS_RECORD
from stockpipe.processing.workers import STATE_DIR, lake_workers, settle_workers
from stockpipe.processing.zone import ProcessedZone
from stockpipe.records import Bar
from stockpipe.stream.base import StreamRecord
from stockpipe.stream.slices import HashSlice

_BASE = ("symbol", "interval", "ts", "open", "high", "low", "close", "volume", "source")

Series = tuple[str, str]
# Partitions of each table kept in memory between batches: the newest few, enough for a
# live session and the walk back to the previous one. Older ones are read when needed.
KEEP_DTS = 3
# The processor merges the files of the partitions it holds this often (seconds), so a
# live day stays a few files between compactions: when the stream is idle (`idle`, between
# live batches, so no bar waits for a compaction), or within a batch once a stream that is
# never idle has gone OVERDUE times that long without one.
COMPACT_EVERY_S = 30.0
OVERDUE = 4
_session_dates = calendar.session_dates


class Processor:
    """The `process` stage on the embedded engine (pandas + the numpy kernel).

    `indicator_sessions` chooses the indicator bars (default: every bar). With
    `record=True` the choice is checked against, or recorded in, the lake on the first
    batch (sessions.py); the Spark tasks pass the choice their driver settled instead.
    `writer` names this processor's data files and manifests (lake/manifest.py).
    """

    def __init__(
        self,
        lake: Lake,
        indicator_sessions: Sequence[str] | None = None,
        *,
        record: bool = True,
        writer: str = manifest.DEFAULT_WRITER,
    ) -> None:
        self.lake = lake
        self.writer = manifest.check_writer(writer)
        self._wanted = tuple(indicator_sessions) if indicator_sessions is not None else None
        self._sessions: tuple[str, ...] | None = None if record else self._wanted
        if self._sessions is None and not record:
            raise ValueError("record=False needs the indicator sessions")
        # Series appended by the fast path (append.py) vs merged by the general path.
        self.fast_series = 0
        self.general_series = 0
        # The processed zone as the last flushed batch left it (issue 21 item 1): the
        # series' stored rows and state stay in memory, so the next batch re-reads no
        # partition. None until the first batch, and again after any failed batch.
        self._zone: ProcessedZone | None = None
        self._latest: pd.DataFrame | None = None  # the latest table, held with the zone
        self._compacted = time.monotonic()  # when the held partitions were last compacted
        self._started = False  # orphan data files are deleted once, by the first batch

    @property
    def indicator_sessions(self) -> tuple[str, ...]:
        """The lake's choice of indicator bars (settled on first use)."""
        if self._sessions is None:
            self._sessions = settle_indicator_sessions(self.lake, self._wanted)
        return self._sessions

    def process(self, records: Sequence[StreamRecord]) -> BatchStats:
        """Clean, deduplicate and compute `records`; durable in the lake on return."""
        sessions = self.indicator_sessions
        columns, rejected = clean_columns(records)
        stats = BatchStats(read=len(records), quarantined=len(rejected))
        stats.reasons = dict(sorted(Counter(r.reason for r in rejected).items()))
        # Taken, not shared: if anything below raises, the half-staged zone is dropped and
        # the next batch rebuilds it from the lake (which holds only flushed batches).
        side = self._zone if self._zone is not None else self._open_zone()
        latest, self._zone, self._latest = self._latest, None, None
        _add_quarantine(side, rejected)
        batch = BatchKeys(columns)
        appended = append_batch(side, batch, stats, sessions)
        self.fast_series += len(appended)
        for series in batch.series:  # in sorted order
            if series in appended:
                continue
            self.general_series += 1
            changed = _merge(side, series, batch.bars(series), stats)
            if not changed.empty:
                _recompute(side, series, changed, sessions)
        side.flush()
        latest = update_latest(self.lake, side.bars, latest)
        if time.monotonic() - self._compacted >= COMPACT_EVERY_S * OVERDUE:
            side.compact()
            self._compacted = time.monotonic()
        side.retain(KEEP_DTS)
        self._zone, self._latest = side, latest
        return stats

    def idle(self) -> None:
        """The stream had nothing new: compact the held partitions if one is due.

        Off the path of a batch, so a live bar never waits behind a compaction. Like a
        batch, a compaction that raises drops the held zone (the next batch re-reads the
        lake, where the manifests say which files count).
        """
        side = self._zone
        if side is None or time.monotonic() - self._compacted < COMPACT_EVERY_S:
            return
        latest, self._zone, self._latest = self._latest, None, None
        side.compact()
        self._compacted = time.monotonic()
        self._zone, self._latest = side, latest

    def _open_zone(self) -> ProcessedZone:
        """The processed zone read from the lake (at start, and after a failed batch)."""
        zone = ProcessedZone(self.lake, self.writer)
        if not self._started:
            zone.delete_orphans()
            self._started = True
        return zone

    # -- the Sink contract (stream/sink.py), for the `process` stage ----------------------
    # Class-level defaults keep this block additive: each is replaced on the instance
    # (never changed in place), so instances never share state.
    _pending: tuple[StreamRecord, ...] = ()
    totals = BatchStats()  # running totals, committed with the checkpoint
    run = BatchStats()  # this run only
    last = BatchStats()  # the last successful flush

    def resume(self, state: Mapping[str, Any]) -> None:
        """Continue the running totals from a checkpoint's state; this run starts at 0."""
        self.totals, self.run = BatchStats.from_state(dict(state)), BatchStats()

    def add(self, records: Sequence[StreamRecord]) -> None:
        self._pending = (*self._pending, *records)

    def flush(self) -> dict[str, Any]:
        """Process what was added; the new running totals are the state to commit.

        A failed flush keeps the records: processing them again changes nothing twice.
        """
        stats = self.process(self._pending)
        self._pending = ()
        self.totals, self.run, self.last = self.totals + stats, self.run + stats, stats
        return self.totals.to_state()


def _add_quarantine(side: ProcessedZone, rejected: Iterable[QuarantineRow]) -> None:
    by_dt: dict[str, list[QuarantineRow]] = defaultdict(list)
    for row in rejected:
        by_dt[f"{row.arrival_ts.astimezone(UTC):%Y-%m-%d}"].append(row)
    for dt, rows in sorted(by_dt.items()):
        frame = side.quarantine.get(dt)
        seen = set(zip(frame["shard_id"], frame["sequence_number"], strict=True))
        new = [r for r in rows if (r.shard_id, r.sequence_number) not in seen]
        if not new:
            continue  # a replay: every row is already stored
        add = pd.DataFrame(
            {
                "reason": [r.reason for r in new],
                "detail": [r.detail for r in new],
                "payload": [r.payload for r in new],
                "shard_id": [r.shard_id for r in new],
                "sequence_number": [r.sequence_number for r in new],
                "arrival_ts": pd.to_datetime([r.arrival_ts for r in new], utc=True),
                "dt": dt,
            }
        )
        side.quarantine.append(dt, add.drop_duplicates(["shard_id", "sequence_number"]))


def _merge(
    side: ProcessedZone,
    series: Series,
    versions: dict[datetime, list[CleanBar]],
    stats: BatchStats,
) -> pd.DataFrame:
    """Count the batch's versions of each key and return the rows whose winner changed."""
    keys = sorted(versions)
    key_index = pd.DatetimeIndex(pd.to_datetime(keys, utc=True)).as_unit("ns")
    key_ns = key_index.asi8
    dts = sorted(set(_session_dates(key_index)))
    stored_frames = [side.rows(dt, series) for dt in dts]
    stored = pd.concat(stored_frames, ignore_index=True)
    # Stored row of each key by its int64 nanoseconds (a dict, not an index lookup).
    stored_ns = pd.DatetimeIndex(stored["ts"]).as_unit("ns").asi8
    where = dict(zip(stored_ns.tolist(), range(len(stored)), strict=True))
    # New keys (the usual case) are built column-wise at the end; rows of stored keys
    # whose winner or creator changed are rare and stay dicts.
    winners: list[CleanBar] = []
    creators: list[CleanBar] = []
    out: list[dict[str, object]] = []
    for ts, ns in zip(keys, key_ns.tolist(), strict=True):
        cands = versions[ts]
        if len(cands) > 1:
            cands = sorted(cands, key=lambda b: b.pos)
        row = where.get(ns)
        if row is None:
            stats.kept += 1
            stats.duplicates += len(cands) - 1
            winners.append(cands[-1])
            creators.append(cands[0])
            continue
        winner: dict[str, object] | None = None
        creator = (cands[0].shard_id, cands[0].sequence_number)
        st = stored.iloc[row]
        won = row_position(st["ingest_shard"], st["ingest_seq"])
        was = (st["_created_shard"], st["_created_seq"])
        if row_position(*was) == NO_POSITION:
            was = (st["ingest_shard"], st["ingest_seq"])
        first = row_position(*was)
        # A version whose position is the stored creator is that same record replayed
        # after a crash: it was counted as kept the first time.
        for cand in cands:
            if cand.pos == first:
                stats.kept += 1
            else:
                stats.duplicates += 1
        if first <= cands[0].pos:
            creator = was
        if cands[-1].pos > won:
            winner = _bar_row(cands[-1])
        elif creator != was:
            winner = {name: st[name] for name in (*_BASE, "ingest_shard", "ingest_seq")}
        if winner is not None:
            winner["_created_shard"], winner["_created_seq"] = creator
            out.append(winner)
    if not out and not winners:
        return pd.DataFrame()
    parts = []
    if winners:
        parts.append(bars_frame(winners, creators))
    if out:
        # Every row has the same keys in the same order: build the frame column by column.
        parts.append(pd.DataFrame({name: [row[name] for row in out] for name in out[0]}))
    changed = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    changed["ts"] = as_utc(changed["ts"]).dt.as_unit("ns")
    changed["session"] = calendar.session_of(changed["ts"], series[1])
    return changed


def _bar_row(bar: CleanBar) -> dict[str, object]:
    return {
        "symbol": bar.symbol,
        "interval": bar.interval,
        "ts": bar.ts,  # made ns UTC for the whole column at once
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
        "source": bar.source,
        "ingest_shard": bar.shard_id,
        "ingest_seq": bar.sequence_number,
    }


def _context(
    side: ProcessedZone, series: Series, dt0: str, t0: pd.Timestamp, sessions: Sequence[str]
) -> pd.DataFrame:
    """Stored rows of the series before t0: enough to resume the kernel (>= CONTEXT
    indicator bars with state, or back to the first one) and to know the previous
    trading day's regular close (or back to the series' first day)."""
    here = side.rows(dt0, series)
    parts = [here[here["ts"] < t0]]
    span = side.span(series)
    if span is None or span[0] >= dt0:
        return parts[0]
    have = int(indicator_mask(parts[0]["session"], sessions).sum())
    has_prev = reached_start = False
    for dt in reversed([d for d in side.bars.dts() if span[0] <= d < dt0]):
        if has_prev and (reached_start or have >= CONTEXT):
            break
        rows = side.rows(dt, series)
        if rows.empty:
            continue
        parts.insert(0, rows)
        have += int(indicator_mask(rows["session"], sessions).sum())
        has_prev = has_prev or bool((rows["session"] == "regular").any())
        # `_n` <= 0: the series' first indicator bar (0), or a bar before it (-1).
        n_min = rows[ORDINAL].min()
        reached_start = reached_start or bool(pd.notna(n_min) and int(n_min) <= 0)
    return pd.concat(parts, ignore_index=True).sort_values("ts", kind="mergesort")


def _recompute(
    side: ProcessedZone, series: Series, changed: pd.DataFrame, sessions: Sequence[str]
) -> None:
    """Recompute a series from its earliest changed bar to its end; stage the partitions."""
    t0 = changed["ts"].min()
    dt0 = str(_session_dates([t0])[0])
    span = side.span(series)
    last_dt = max(span[1], dt0) if span else dt0
    later = [d for d in side.bars.dts() if dt0 <= d <= last_dt]
    stored_after = [side.rows(d, series) for d in later]
    after_parts = [part for part in (f[f["ts"] >= t0] for f in stored_after) if len(part)]
    if after_parts:
        after = pd.concat(after_parts, ignore_index=True)
        after = after[~after["ts"].isin(changed["ts"])]
        fresh = pd.concat([after, changed], ignore_index=True)
    else:
        # Only new bars at the end of the series (the usual case): nothing stored to merge.
        # Every column `after` would add is overwritten below or NULL in the file anyway.
        fresh = changed
    fresh = fresh.sort_values("ts", kind="mergesort").reset_index(drop=True)
    fresh["dt"] = _session_dates(fresh["ts"])

    ctx = _context(side, series, dt0, t0, sessions)
    if IndicatorState.can_resume_from(ctx, sessions):
        state = IndicatorState.from_rows(ctx, sessions)
        values, _ = compute_indicators(fresh, state, sessions)
    else:
        # Early in a series (or state missing): recompute from the first stored bar and
        # keep only the rows from t0 on; the earlier rows are left exactly as stored.
        whole = pd.concat([ctx, fresh], ignore_index=True)
        values = compute_indicators(whole, sessions=sessions)[0]
        values = values.iloc[len(ctx) :].reset_index(drop=True)
    computed = {name: values[name].to_numpy() for name in (*INDICATOR_COLUMNS, *STATE_COLUMNS)}
    fresh = pd.concat(
        [fresh.drop(columns=[c for c in computed if c in fresh.columns]), pd.DataFrame(computed)],
        axis=1,
    )

    touched = sorted(set(fresh["dt"]))
    for dt in touched:
        mine = side.rows(dt, series)
        keep = mine[~(mine["ts"] >= t0)]
        side.put_rows(dt, series, pd.concat([keep, fresh[fresh["dt"] == dt]], ignore_index=True))

    before = ctx[(ctx["dt"] < dt0) & (ctx["session"] == "regular")]
    prev_close = float(before["close"].iloc[-1]) if len(before) else math.nan
    session_rows = pd.concat([ctx[ctx["dt"] == dt0], fresh], ignore_index=True)
    daily = compute_daily(session_rows, prev_close)
    for dt in touched:
        frame = side.daily.get(dt)
        mine = (frame["symbol"] == series[0]) & (frame["interval"] == series[1])
        row = daily[daily["dt"] == dt]
        if row.empty and not mine.any():
            continue  # a day without regular bars, before and after: no daily row
        side.daily.put(dt, pd.concat([frame[~mine], row], ignore_index=True))
    side.widen(series, dt0, touched[-1])


def warm_up(indicator_sessions: Sequence[str] = SESSIONS) -> None:
    """Load now what a first batch would load while its bars wait: the exchange calendar
    (~0.4 s), the compiled kernel from numba's cache (~0.25 s) and the Parquet writer.

    A live `process` calls it before its first poll, so the first live batch costs what
    the others do. One made-up bar goes through a `Processor` on an in-memory lake.
    """
    ts = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # a regular session minute
    bar = Bar("WARMUP", "1min", ts, 10.0, 10.5, 9.5, 10.0, 100, "warm-up")
    record = StreamRecord("shardId-000000000000", "1", bar.symbol, bar.to_json(), ts)
    Processor(MemoryLake(), indicator_sessions, record=False).process([record])


def clear_processed(lake: Lake) -> None:
    """What a full rebuild deletes first: the processed zone, every worker's series index
    and the records of the indicator sessions and workers (the rebuild records them anew)."""
    for prefix in (BARS.prefix, DAILY.prefix, QUARANTINE.prefix, LATEST.prefix):
        for path in lake.list(prefix):
            lake.delete(path)
    for path in lake.list(STATE_DIR):
        if path.rsplit("/", 1)[-1].startswith("series"):
            lake.delete(path)
    lake.delete(RECORD)
    lake.delete(WORKERS_RECORD)


def reprocess(
    lake: Lake,
    from_date: str | date | None = None,
    to_date: str | date | None = None,
    indicator_sessions: Sequence[str] | None = None,
    workers: int | None = None,
) -> BatchStats:
    """Rebuild processed-data/ and quarantine/ from raw-data/ (`reprocess --engine local`).

    Without a date range the processed zone is deleted and rebuilt from every raw record
    (with `indicator_sessions`, default every bar, recorded anew) as `workers` writers
    (default 1), recorded too. With a range (UTC arrival dates of raw-data/), those raw
    records are merged into the existing tables by the lake's own workers; records
    already processed count and change nothing twice.
    """
    lo = from_date.isoformat() if isinstance(from_date, date) else from_date
    hi = to_date.isoformat() if isinstance(to_date, date) else to_date
    if lo is None and hi is None:
        clear_processed(lake)
        settle_workers(lake, workers or 1)
    elif workers is not None and workers != lake_workers(lake):
        settle_workers(lake, workers)  # refused: a range keeps the lake's workers
    count = lake_workers(lake)
    unique: dict[tuple[str, str], StreamRecord] = {}
    for record in iter_raw(lake, lo, hi):
        # A raw file rewritten after a crash may repeat records: one per stream position.
        unique.setdefault((record.shard_id, record.sequence_number), record)
    ordered = sorted(unique.values(), key=lambda r: position(r.shard_id, r.sequence_number))
    if not ordered:
        return BatchStats()
    if count == 1:
        return Processor(lake, indicator_sessions).process(ordered)
    # One processor per worker's slice, one after the other, as `process --workers N`
    # would have written them.
    sessions = settle_indicator_sessions(lake, indicator_sessions)
    total = BatchStats()
    for index in range(count):
        piece = HashSlice(index, count)
        mine = piece.keep(ordered)
        if mine:
            total = total + Processor(lake, sessions, writer=piece.writer).process(mine)
    return total
