"""Large fixtures, built once and cached under bench/.cache/ keyed by size.

Pushing 10-50 million bars through the stream would take hours on two cores, so:

- `processed_lake` writes processed-data/bars and processed-data/daily directly (then the
  latest table from them, with the engine's `rebuild_latest`), in the
  engine's on-disk format: one data file and its manifest per table and dt, sorted like the
  engine sorts, with the contract columns and the engine's hidden state columns
  (`bars_file_schema()`), daily rows from the engine's `compute_daily`, and the engine's
  series index. Indicators come from the engine's compiled kernel
  (`compute_indicators`), one whole series at a time, so they are the engine's exactly
  (checked in tests/bench). The stream metadata is synthetic: ingest_shard
  is the shard the symbol hashes to on a 4-shard stream, ingest_seq a running counter.
- `raw_zone` writes raw-data/ with the archiver's own code (`RawArchiver.write`) from the
  simulator's real payloads, wrapped in stream records as the stream would number them
  (the shard the key hashes to, a running sequence number, arrival 1 ms apart).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import harness
import workloads

COMPLETE = ".complete"  # written last: a fixture without it is rebuilt
ARRIVAL_BASE = datetime(2026, 2, 2, tzinfo=UTC)


def _shard_of(symbols: list[str]) -> dict[str, str]:
    from stockpipe.stream.base import even_hash_ranges, hash_key
    from stockpipe.stream.local import shard_name

    ranges = even_hash_ranges(workloads.SHARDS)
    out = {}
    for sym in symbols:
        h = hash_key(sym)
        out[sym] = next(shard_name(i) for i, (lo, hi) in enumerate(ranges) if lo <= h <= hi)
    return out


def _ready(folder: Path) -> bool:
    return (folder / COMPLETE).is_file()


def _fresh(folder: Path) -> None:
    harness.remove(folder)
    folder.mkdir(parents=True)


def processed_lake(n_symbols: int, n_sessions: int, start: date = workloads.YEAR_START) -> Path:
    """A lake root holding `n_symbols` x `n_sessions` sessions of processed 1-minute bars."""
    # "-k": lakes with exchange sessions and the kernel's own indicators; a cache from an
    # older build is not reused.
    folder = harness.cache_path(f"processed-k-{n_symbols}x{n_sessions}-{start.isoformat()}")
    if not _ready(folder):
        _fresh(folder)
        build_processed(folder / "lake", n_symbols, n_sessions, start)
        (folder / COMPLETE).write_text("ok\n")
    _with_latest(folder / "lake")
    return folder / "lake"


def _with_latest(root: Path) -> None:
    """The latest table, as the engine keeps it (built here for caches from before it)."""
    from stockpipe.lake.local import LocalLake
    from stockpipe.processing.latest import LATEST_FILE, rebuild_latest

    if not (root / LATEST_FILE).is_file():
        rebuild_latest(LocalLake(root))


def _series_frame(sym: str, days: list[date], shard: str, first_seq: int) -> Any:
    """One symbol's bars over `days`, with the engine's columns (indicators included)."""
    import numpy as np
    import pandas as pd

    from stockpipe.processing.indicators import compute_indicators
    from stockpipe.sources.simulator import session_bars

    sessions = [session_bars(0, sym, day) for day in days]
    lengths = [len(s) for s in sessions]
    starts = np.repeat(
        np.array([np.datetime64(s.start.replace(tzinfo=None), "ns") for s in sessions]), lengths
    )
    offsets = np.concatenate([np.arange(k) for k in lengths]).astype("timedelta64[m]")
    n = int(sum(lengths))
    seqs = np.char.zfill(np.arange(first_seq, first_seq + n).astype(str), 20).astype(object)
    cols: dict[str, Any] = {
        "symbol": np.full(n, sym, dtype=object),
        "interval": np.full(n, "1min", dtype=object),
        "ts": pd.DatetimeIndex(starts + offsets).tz_localize("UTC"),
        "open": np.concatenate([s.open for s in sessions]),
        "high": np.concatenate([s.high for s in sessions]),
        "low": np.concatenate([s.low for s in sessions]),
        "close": np.concatenate([s.close for s in sessions]),
        "volume": np.concatenate([s.volume for s in sessions]).astype("int64"),
        "source": np.full(n, "simulator", dtype=object),
        # The simulator's bars are all in the regular session (09:30-16:00).
        "session": np.full(n, "regular", dtype=object),
        "ingest_shard": np.full(n, shard, dtype=object),
        "ingest_seq": seqs,
        "_created_shard": np.full(n, shard, dtype=object),
        "_created_seq": seqs,
        "dt": np.repeat(np.array([s.day.isoformat() for s in sessions], dtype=object), lengths),
    }
    frame = pd.DataFrame(cols)
    return pd.concat([frame, compute_indicators(frame)[0]], axis=1)


def _write_partition(lake: Any, prefix: str, dt: str, table: Any) -> None:
    """One partition as the engine leaves a new one: its writer's first data file and
    the manifest naming it (lake/manifest.py)."""
    from stockpipe.lake import manifest

    path = manifest.data_file(prefix, dt, manifest.DEFAULT_WRITER, 1)
    lake.write_parquet(path, table)
    manifest.publish(lake, prefix, dt, manifest.DEFAULT_WRITER, [path])


def build_processed(
    root: Path, n_symbols: int, n_sessions: int, start: date, block: int = 50
) -> None:
    """Write bars and daily partitions, `block` symbols at a time, then merge each dt."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.feather as feather

    from stockpipe.lake.local import LocalLake
    from stockpipe.lake.partitions import to_arrow
    from stockpipe.processing.base import bars_file_schema, daily_file_schema
    from stockpipe.processing.indicators import compute_daily
    from stockpipe.processing.sessions import settle_indicator_sessions
    from stockpipe.processing.zone import SERIES_INDEX

    lake = LocalLake(root)
    # The engine's record of the indicator bars (every bar, the default), before any bars.
    settle_indicator_sessions(lake, None)
    syms = workloads.symbols(n_symbols)
    days = workloads.sessions(n_sessions, start)
    shard = _shard_of(syms)
    bars_schema, daily_schema = bars_file_schema(), daily_file_schema()
    pieces = root.parent / "blocks"
    daily_parts = []
    seq = 1
    for b0 in range(0, len(syms), block):
        frames = []
        for sym in syms[b0 : b0 + block]:
            frame = _series_frame(sym, days, shard[sym], seq)
            seq += len(frame)
            frames.append(frame)
            daily_parts.append(compute_daily(frame))
        # Sorted like the engine writes a partition: symbol, interval, ts within each dt.
        bars = pd.concat(frames, ignore_index=True).sort_values(
            ["dt", "symbol", "interval", "ts"], kind="mergesort"
        )
        table = to_arrow(bars, bars_schema)
        dts = bars["dt"].to_numpy()
        bounds = [0, *(i for i in range(1, len(dts)) if dts[i] != dts[i - 1]), len(dts)]
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            folder = pieces / f"dt={dts[lo]}"
            folder.mkdir(parents=True, exist_ok=True)
            # Intermediate pieces: Arrow IPC with lz4, several times faster than Parquet.
            feather.write_feather(
                table.slice(lo, hi - lo), folder / f"block-{b0:06d}.arrow", compression="lz4"
            )
    for day in days:
        dt = day.isoformat()
        files = sorted((pieces / f"dt={dt}").glob("block-*.arrow"))
        merged = pa.concat_tables([feather.read_table(f) for f in files])
        _write_partition(lake, "processed-data/bars", dt, merged)
    harness.remove(pieces)
    daily = pd.concat(daily_parts, ignore_index=True)
    for dt, rows in daily.groupby("dt", sort=True):
        rows = rows.sort_values(["symbol", "interval"], kind="mergesort").reset_index(drop=True)
        _write_partition(lake, "processed-data/daily", str(dt), to_arrow(rows, daily_schema))
    first, last = days[0].isoformat(), days[-1].isoformat()
    index = {f"{sym}|1min": [first, last] for sym in sorted(syms)}
    lake.write_bytes(SERIES_INDEX, json.dumps(index, indent=0).encode())
    _with_latest(root)


def raw_zone(n_symbols: int, n_sessions: int, start: date = workloads.BACKFILL_START) -> Path:
    """A lake root whose raw-data/ holds the simulator's backfill, as the archiver writes it."""
    folder = harness.cache_path(f"raw-{n_symbols}x{n_sessions}-{start.isoformat()}")
    if not _ready(folder):
        _fresh(folder)
        build_raw(folder / "lake", n_symbols, n_sessions, start)
        (folder / COMPLETE).write_text("ok\n")
    return folder / "lake"


def build_raw(root: Path, n_symbols: int, n_sessions: int, start: date) -> None:
    from stockpipe.lake.local import LocalLake
    from stockpipe.lake.raw import RawArchiver
    from stockpipe.sources.simulator import MarketSimulator
    from stockpipe.stream.base import StreamRecord

    syms = workloads.symbols(n_symbols)
    shard = _shard_of(syms)
    archiver = RawArchiver(LocalLake(root))
    source = MarketSimulator(syms, workloads.sessions(n_sessions, start))
    seq = 0
    pending: list[StreamRecord] = []
    for batch in source.batches():
        for key, data in batch:
            seq += 1
            pending.append(
                StreamRecord(
                    shard_id=shard[key],
                    sequence_number=f"{seq:020d}",
                    partition_key=key,
                    data=data,
                    arrival_ts=ARRIVAL_BASE + timedelta(milliseconds=seq),
                )
            )
        if len(pending) >= 10_000:  # one archive batch, as `run_archive` polls them
            archiver.write(pending)
            pending = []
    if pending:
        archiver.write(pending)
