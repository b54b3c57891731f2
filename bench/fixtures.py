"""Large fixtures, built once and cached under bench/.cache/ keyed by size.

Pushing 10-50 million bars through the stream would take hours on two cores, so:

- `processed_lake` writes processed-data/bars and processed-data/daily directly, in the
  engine's on-disk format: one `part-0.parquet` per table and dt, sorted like the
  engine sorts, with the contract columns and the engine's hidden state columns
  (`bars_file_schema()`), values computed by the engine's own kernel
  (`compute_indicators`, resumed chunk by chunk from `IndicatorState`, which the kernel
  guarantees equals one pass) and `compute_daily`, plus the engine's series index.
  Only the stream metadata is synthetic: ingest_shard is the shard the symbol hashes to
  on a 4-shard stream, ingest_seq a running counter.
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
CHUNK_SESSIONS = 20  # sessions computed per kernel call per symbol (bounds memory)
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
    folder = harness.cache_path(f"processed-{n_symbols}x{n_sessions}-{start.isoformat()}")
    if not _ready(folder):
        _fresh(folder)
        build_processed(folder / "lake", n_symbols, n_sessions, start)
        (folder / COMPLETE).write_text("ok\n")
    return folder / "lake"


def build_processed(root: Path, n_symbols: int, n_sessions: int, start: date) -> None:
    import pandas as pd

    from stockpipe.lake.local import LocalLake
    from stockpipe.processing.base import bars_file_schema, daily_file_schema
    from stockpipe.processing.engine import SERIES_INDEX
    from stockpipe.processing.indicators import (
        INDICATOR_COLUMNS,
        STATE_COLUMNS,
        compute_daily,
        compute_indicators,
    )
    from stockpipe.processing.store import PART_NAME, partition_dir, to_arrow
    from stockpipe.sources.simulator import session_bars

    lake = LocalLake(root)
    syms = workloads.symbols(n_symbols)
    days = workloads.sessions(n_sessions, start)
    shard = _shard_of(syms)
    states: dict[str, Any] = {}
    prev_close: dict[str, float] = {}
    seq = 0
    bars_schema, daily_schema = bars_file_schema(), daily_file_schema()
    for c0 in range(0, len(days), CHUNK_SESSIONS):
        chunk = days[c0 : c0 + CHUNK_SESSIONS]
        bars_parts, daily_parts = [], []
        for sym in syms:
            sessions = [session_bars(0, sym, day) for day in chunk]
            frame = pd.DataFrame(
                {
                    "symbol": sym,
                    "interval": "1min",
                    "ts": pd.to_datetime(
                        [
                            s.start + i * timedelta(minutes=1)
                            for s in sessions
                            for i in range(len(s))
                        ],
                        utc=True,
                    ).as_unit("ns"),
                    "open": [v for s in sessions for v in s.open],
                    "high": [v for s in sessions for v in s.high],
                    "low": [v for s in sessions for v in s.low],
                    "close": [v for s in sessions for v in s.close],
                    "volume": [int(v) for s in sessions for v in s.volume],
                    "source": "simulator",
                    "dt": [s.day.isoformat() for s in sessions for _ in range(len(s))],
                }
            )
            n = len(frame)
            seqs = [f"{k:020d}" for k in range(seq + 1, seq + n + 1)]
            seq += n
            frame["ingest_shard"] = shard[sym]
            frame["ingest_seq"] = seqs
            frame["_created_shard"] = shard[sym]
            frame["_created_seq"] = seqs
            values, states[sym] = compute_indicators(frame, states.get(sym))
            for name in (*INDICATOR_COLUMNS, *STATE_COLUMNS):
                frame[name] = values[name].to_numpy()
            daily = compute_daily(frame, prev_close.get(sym))
            prev_close[sym] = float(frame["close"].iloc[-1])
            bars_parts.append(frame)
            daily_parts.append(daily)
        bars = pd.concat(bars_parts, ignore_index=True)
        daily = pd.concat(daily_parts, ignore_index=True)
        for day in chunk:
            dt = day.isoformat()
            part = bars[bars["dt"] == dt].sort_values(
                ["symbol", "interval", "ts"], kind="mergesort"
            )
            lake.write_parquet(
                f"{partition_dir('processed-data/bars', dt)}/{PART_NAME}",
                to_arrow(part.reset_index(drop=True), bars_schema),
            )
            rows = daily[daily["dt"] == dt].sort_values(["symbol", "interval"], kind="mergesort")
            lake.write_parquet(
                f"{partition_dir('processed-data/daily', dt)}/{PART_NAME}",
                to_arrow(rows.reset_index(drop=True), daily_schema),
            )
    first, last = days[0].isoformat(), days[-1].isoformat()
    index = {f"{sym}|1min": [first, last] for sym in sorted(syms)}
    lake.write_bytes(SERIES_INDEX, json.dumps(index, indent=0).encode())


def raw_zone(n_symbols: int, n_sessions: int, start: date = workloads.BACKFILL_START) -> Path:
    """A lake root whose raw-data/ holds the simulator's backfill, as the archiver writes it."""
    folder = harness.cache_path(f"raw-{n_symbols}x{n_sessions}-{start.isoformat()}")
    if not _ready(folder):
        _fresh(folder)
        build_raw(folder / "lake", n_symbols, n_sessions, start)
        (folder / COMPLETE).write_text("ok\n")
    return folder / "lake"


def build_raw(root: Path, n_symbols: int, n_sessions: int, start: date) -> None:
    from stockpipe.lake.archive import RawArchiver
    from stockpipe.lake.local import LocalLake
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
