"""Factories of the processing tests: simulator records with stream positions, lake reads."""

from __future__ import annotations

import contextlib
import io
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from stockpipe import calendar
from stockpipe.contract import BARS
from stockpipe.lake import manifest
from stockpipe.lake.local import LocalLake
from stockpipe.processing.engine import Processor
from stockpipe.records import Bar
from stockpipe.sources.simulator import MarketSimulator
from stockpipe.stream.base import StreamRecord
from stockpipe.testing.lake_content import lake_content

ARRIVAL0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def to_records(
    payloads: Sequence[tuple[str, bytes]], shard: str = "shardId-000000000000", start: int = 1
) -> list[StreamRecord]:
    """Stream records for payloads, in arrival order: seq start, start+1, ..."""
    return [
        StreamRecord(shard, str(start + i), key, data, ARRIVAL0 + timedelta(seconds=i))
        for i, (key, data) in enumerate(payloads)
    ]


def simulate(
    symbols: Sequence[str], sessions: int, seed: int = 0, fault_rate: float = 0.0
) -> tuple[MarketSimulator, list[StreamRecord]]:
    days = calendar.sessions_from(date(2026, 3, 2), sessions)
    sim = MarketSimulator(symbols, days, seed=seed, fault_rate=fault_rate)
    payloads = [p for batch in sim.batches() for p in batch]
    return sim, to_records(payloads)


def by_minute(records: list[StreamRecord]) -> list[list[StreamRecord]]:
    """The records regrouped as a live feed would send them: one batch per bar minute,
    every symbol's bar of that minute together (a malformed record rides along with the
    record before it), renumbered in that arrival order."""
    minutes: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    last = ""
    for record in records:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            last = json.loads(record.data)["ts"][:16]
        minutes[last].append((record.partition_key, record.data))
    ordered = [p for minute in sorted(minutes) for p in minutes[minute]]
    renumbered = to_records(ordered)
    out, i = [], 0
    for minute in sorted(minutes):
        out.append(renumbered[i : i + len(minutes[minute])])
        i += len(minutes[minute])
    return out


def bar_record(bar: Bar, seq: int, shard: str = "shardId-000000000000") -> StreamRecord:
    return StreamRecord(shard, str(seq), bar.symbol, bar.to_json(), ARRIVAL0)


def read_table(lake: LocalLake, prefix: str) -> pd.DataFrame:
    """Every file that counts under prefix (through the manifests), with dt from the
    path, contract + hidden columns."""
    frames = []
    for dt, paths in manifest.live_files(lake, prefix).items():
        for path in paths:
            frame = pq.read_table(io.BytesIO(lake.read_bytes(path))).to_pandas()
            frame["dt"] = dt
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def processed_series(lake: LocalLake, raw: pd.DataFrame) -> pd.DataFrame:
    """`raw` (rows of random_series) through the engine, one stream record per row in row
    order, all in one batch; the bars table read back file by file (dt order)."""
    bars = [
        Bar(
            r.symbol,
            r.interval,
            r.ts.to_pydatetime(),
            float(r.open),
            float(r.high),
            float(r.low),
            float(r.close),
            int(r.volume),
            r.source,
        )  # fmt: skip
        for r in raw.itertuples(index=False)
    ]
    Processor(lake).process([bar_record(bar, seq) for seq, bar in enumerate(bars, start=1)])
    return read_table(lake, BARS.prefix)


def snapshot(lake: LocalLake) -> dict[str, bytes]:
    """The lake's content except checkpoints (`lake_content`): each table as its rows
    read through the manifests, whichever data files hold them."""
    return lake_content(lake)


def random_series(seed: int, n: int = 5000) -> pd.DataFrame:
    """A random one-minute series of `n` bars of RND (the indicator and kernel tests)."""
    rng = np.random.default_rng(seed)
    close = np.round(50 * np.exp(np.cumsum(rng.normal(0, 0.004, n))), 2)
    opens = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(opens, close) + np.round(rng.uniform(0, 0.3, n), 2)
    low = np.minimum(opens, close) - np.round(rng.uniform(0, 0.3, n), 2)
    # 390 one-minute bars per session, sessions on consecutive days.
    minute = np.arange(n)
    ts = (
        pd.Timestamp("2026-03-02 14:30", tz="UTC")
        + pd.to_timedelta(minute // 390, unit="D")
        + pd.to_timedelta(minute % 390, unit="min")
    )
    return pd.DataFrame(
        {
            "symbol": "RND",
            "interval": "1min",
            "ts": ts,
            "open": opens,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.integers(0, 5000, n),
            "source": "test",
            "ingest_shard": "s",
            "ingest_seq": [str(i) for i in range(n)],
        }
    )
