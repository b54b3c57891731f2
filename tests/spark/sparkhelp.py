"""Helpers of the Spark tests: raw zones from the real pipeline, table comparison."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stockpipe.contract import BARS, DAILY, QUARANTINE, RAW
from stockpipe.lake import manifest
from stockpipe.lake.local import LocalLake
from stockpipe.sources.simulator import MarketSimulator
from stockpipe.stream.base import batched_puts
from stockpipe.stream.local import LocalStream

SYMBOLS = ("AAPL", "MSFT", "NVDA")
TABLES = {"bars": BARS, "daily": DAILY, "quarantine": QUARANTINE}
REL_TOL = 1e-9


def ingest(stream: LocalStream, payloads: Sequence[tuple[str, bytes]]) -> None:
    for call in batched_puts(list(payloads)):
        stream.put_records(call)


def simulated(sessions: Sequence[date], seed: int, fault_rate: float) -> list[tuple[str, bytes]]:
    source = MarketSimulator(list(SYMBOLS), list(sessions), seed=seed, fault_rate=fault_rate)
    out = [p for batch in source.batches() for p in batch]
    assert source.faults.duplicates and source.faults.out_of_order and source.faults.malformed
    return out


def copy_raw(source: Path, target: Path) -> Path:
    shutil.copytree(source / RAW.prefix, target / RAW.prefix)
    return target


def read_table(lake: Path, name: str) -> pa.Table:
    """Every row of a processed table (contract columns + dt), sorted by its key."""
    table = TABLES[name]
    live = manifest.live_files(LocalLake(lake), table.prefix)  # the files that count
    parts = []
    for dt, names in live.items():
        part = pa.concat_tables([pq.read_table(lake / n) for n in names])
        part = part.select(table.column_names)
        parts.append(part.append_column("dt", pa.array([dt] * part.num_rows, pa.string())))
    assert parts, f"{name} has no files under {lake}"
    merged = pa.concat_tables(parts)
    return merged.sort_by([(k, "ascending") for k in (*table.key, "dt")])


def assert_same_rows(left: pa.Table, right: pa.Table, name: str) -> None:
    """Same rows; strings, integers and times equal; doubles within REL_TOL relative."""
    assert left.schema == right.schema, name
    assert left.num_rows == right.num_rows, name
    for field in left.schema:
        a, b = left.column(field.name).to_pylist(), right.column(field.name).to_pylist()
        if pa.types.is_floating(field.type):
            bad = [
                (i, x, y)
                for i, (x, y) in enumerate(zip(a, b, strict=True))
                if not (x is None and y is None)
                and (x is None or y is None or abs(x - y) > REL_TOL * max(abs(x), abs(y)))
            ]
        else:
            bad = [(i, x, y) for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        assert not bad, f"{name}.{field.name} differs at {bad[:3]}"
