"""How many workers write a lake's processed zone, recorded in the lake itself.

Worker k of N (`stockpipe process --workers N`, stream/slices.py) owns hash-key slice k,
writes as writer `w{k}` and keeps its own series index, `latest` file and checkpoint. A
series' rows and state therefore live with the worker that owns its slice, and that
depends on N: a lake must be processed with one N from its first row to a full
`stockpipe reprocess --workers M`, which deletes the record with the zone. Like the
indicator sessions (sessions.py), the record is written before the first data file; a
lake without one was written by a single `process` (N = 1).
"""

from __future__ import annotations

import json

from stockpipe.contract import BARS, QUARANTINE
from stockpipe.errors import ConfigError, LakeError
from stockpipe.lake import manifest
from stockpipe.lake.base import Lake
from stockpipe.stream.slices import HashSlice, check_workers

RECORD = "_state/processing/workers.json"
STATE_DIR = "_state/processing"


def recorded_workers(lake: Lake) -> int | None:
    """The lake's recorded N, or None if it has no record."""
    try:
        raw = lake.read_bytes(RECORD)
    except FileNotFoundError:
        return None
    try:
        return check_workers(int(json.loads(raw)["workers"]))
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        raise LakeError(
            f"{RECORD} in the lake is corrupt ({exc}): run `stockpipe reprocess` to rebuild "
            "the processed zone"
        ) from None


def has_rows(lake: Lake) -> bool:
    return manifest.has_files(lake, BARS.prefix) or manifest.has_files(lake, QUARANTINE.prefix)


def lake_workers(lake: Lake) -> int:
    """The N the lake's rows were written with (1 for a lake without a record)."""
    return recorded_workers(lake) or 1


def record_workers(lake: Lake, count: int) -> None:
    lake.write_bytes(RECORD, json.dumps({"workers": check_workers(count)}).encode())


def settle_workers(lake: Lake, count: int) -> int:
    """Check `count` against the lake's N, or record it for a zone without rows yet."""
    check_workers(count)
    recorded = recorded_workers(lake)
    lake_n = recorded or 1
    if lake_n == count:
        return count
    if has_rows(lake):
        where = f"recorded in {RECORD}" if recorded else f"no {RECORD}"
        raise ConfigError(
            f"--workers {count} but the lake's processed zone was written by {lake_n} "
            f"worker{'s' if lake_n != 1 else ''} ({where}): run with --workers {lake_n}, "
            f"or rebuild it with `stockpipe reprocess --workers {count}`"
        )
    if count == 1:
        lake.delete(RECORD)  # no record is N = 1
    else:
        record_workers(lake, count)
    return count


def series_index_path(writer: str) -> str:
    """Each worker's series index (w0 keeps the single-process name)."""
    manifest.check_writer(writer)
    suffix = "" if writer == manifest.DEFAULT_WRITER else f"-{writer}"
    return f"{STATE_DIR}/series{suffix}.json"


def consumer_name(base: str, hash_slice: HashSlice | None) -> str:
    """The checkpoint of a worker: `base` alone (N = 1), else `base-w{k}`."""
    if hash_slice is None or hash_slice.count == 1:
        return base
    return f"{base}-{hash_slice.writer}"


def worker_consumers(base: str, count: int) -> list[str]:
    """The checkpoints of `count` workers: `[base]` for one, else `base-w0`, `base-w1`..."""
    if count == 1:
        return [base]
    return [consumer_name(base, HashSlice(k, count)) for k in range(count)]
