"""Factories of the processing tests: simulator records with stream positions, lake reads."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pyarrow.parquet as pq

from stockpipe import calendar
from stockpipe.lake.local import LocalLake
from stockpipe.records import Bar
from stockpipe.sources.simulator import MarketSimulator
from stockpipe.stream.base import StreamRecord

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


def bar_record(bar: Bar, seq: int, shard: str = "shardId-000000000000") -> StreamRecord:
    return StreamRecord(shard, str(seq), bar.symbol, bar.to_json(), ARRIVAL0)


def read_table(lake: LocalLake, prefix: str) -> pd.DataFrame:
    """Every file under prefix, with dt from the path, contract + hidden columns."""
    frames = []
    for path in lake.list(prefix):
        frame = pq.read_table(io.BytesIO(lake.read_bytes(path))).to_pandas()
        frame["dt"] = path.split("/")[-2][3:]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def snapshot(lake: LocalLake) -> dict[str, bytes]:
    return {p: lake.read_bytes(p) for p in lake.list("") if not p.startswith("_checkpoints")}
