"""What a lake holds, independent of how its rows are split into data files.

Appends, rewrites and compactions (lake/partitions.py) put the same rows into different
files, and a manifest holds absolute locations, so two lakes with equal tables differ
byte for byte. `lake_content` is what tests compare instead: each processed partition as
its rows read through the manifests, sorted by the table's key, and every other file
(raw zone, latest, state) as stored.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from stockpipe.contract import BARS, DAILY, QUARANTINE
from stockpipe.lake import manifest
from stockpipe.lake.base import Lake

#: The columns each processed table's rows are unique on, and sorted by here.
TABLE_KEYS = {
    BARS.prefix: ["symbol", "interval", "ts"],
    DAILY.prefix: ["symbol", "interval"],
    QUARANTINE.prefix: ["shard_id", "sequence_number"],
}


def partition_content(lake: Lake, prefix: str, paths: Sequence[str]) -> bytes:
    """The rows of a partition's files sorted by the table's key, as Parquet bytes: equal
    for equal rows (values, types, NULLs) however they are split into files."""
    table = pa.concat_tables([lake.read_parquet(p) for p in paths])
    table = table.sort_by([(k, "ascending") for k in TABLE_KEYS[prefix]]).combine_chunks()
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def lake_content(lake: Lake, prefixes: Sequence[str] = ("",)) -> dict[str, bytes]:
    """path -> bytes of every file under `prefixes` but checkpoints, with each processed
    partition replaced by `<table prefix>/dt=<date>` -> its `partition_content`."""
    out: dict[str, bytes] = {}
    for prefix in prefixes:
        for path in lake.list(prefix):
            if not path.startswith(("_checkpoints", *TABLE_KEYS)):
                out[path] = lake.read_bytes(path)
    for table in TABLE_KEYS:
        if not any(table.startswith(p) or p.startswith(table) for p in prefixes):
            continue
        for dt, paths in manifest.live_files(lake, table).items():
            out[f"{table}/dt={dt}"] = partition_content(lake, table, paths)
    return out
