"""What `stockpipe reprocess` checks before it deletes anything.

A full reprocess deletes processed-data/ and rebuilds it from raw-data/ alone. Records the
`process` consumer has read but the `archive` consumer has not landed yet exist only in
processed-data/ (and, for its retention period, in the stream): deleting would lose them
for good, with the process checkpoint already past them. So the rebuild is refused while
the raw zone is behind the process checkpoint, and on a lake it cannot write.
"""

from __future__ import annotations

import os

from stockpipe.errors import LakeError
from stockpipe.lake.base import Lake
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.pipeline.stages import ARCHIVE_CONSUMER, PROCESS_CONSUMER
from stockpipe.processing.workers import lake_workers, worker_consumers
from stockpipe.stream.base import seq_key
from stockpipe.stream.checkpoint import Checkpoint

_PROBE = "_state/reprocess/probe"


def _processed(lake: Lake) -> list[Checkpoint]:
    """The process checkpoints of the lake's workers (one, `process`, for N = 1)."""
    store = LakeCheckpointStore(lake)
    return [store.load(name) for name in worker_consumers(PROCESS_CONSUMER, lake_workers(lake))]


def furthest_positions(checkpoints: list[Checkpoint]) -> dict[str, str]:
    """Per shard, the furthest position any of the checkpoints reached."""
    out: dict[str, str] = {}
    for cp in checkpoints:
        for shard, seq in cp.shards.items():
            if shard not in out or seq_key(seq) > seq_key(out[shard]):
                out[shard] = seq
    return out


def raw_behind(lake: Lake) -> list[tuple[str, str | None, str]]:
    """(shard, archived up to, processed up to) for every shard raw-data/ lags behind on."""
    processed = furthest_positions(_processed(lake))
    archived = LakeCheckpointStore(lake).load(ARCHIVE_CONSUMER)
    behind: list[tuple[str, str | None, str]] = []
    for shard, seq in sorted(processed.items()):
        if shard in archived.finished:
            continue
        landed = archived.shards.get(shard)
        if landed is None or seq_key(landed) < seq_key(seq):
            behind.append((shard, landed, seq))
    return behind


def check_raw_covers_processed(lake: Lake) -> None:
    """Refuse a full rebuild that would lose what only processed-data/ holds."""
    archived = LakeCheckpointStore(lake).load(ARCHIVE_CONSUMER)
    streams = [cp.stream for cp in _processed(lake) if cp.stream]
    if archived.stream and any(stream != archived.stream for stream in streams):
        raise LakeError(
            "reprocess refused: the archive and process checkpoints belong to different "
            "streams, so raw-data/ need not hold what processed-data/ does; run `stockpipe "
            "archive` and `stockpipe process` on the same stream first (--reset-checkpoints "
            "if one was refused), then reprocess. Nothing was deleted"
        )
    behind = raw_behind(lake)
    if behind:
        shard, landed, seq = behind[0]
        raise LakeError(
            f"reprocess refused: raw-data/ is behind the process checkpoint on {len(behind)} "
            f"shard(s) ({shard}: archived up to {landed or 'nothing'}, processed up to "
            f"{seq}), and a rebuild from raw-data/ would lose those bars; run `stockpipe "
            "archive` first (the stream still holds them for its retention period), then "
            "reprocess. Nothing was deleted"
        )


def check_writable(lake: Lake) -> None:
    """Write and delete a probe object, so a read-only lake fails before any delete."""
    try:
        lake.write_bytes(_PROBE, str(os.getpid()).encode())
        lake.delete(_PROBE)
    except LakeError as exc:
        raise LakeError(
            f"reprocess refused: the lake {lake.root} is not writable ({exc}); reprocess "
            "deletes and rewrites processed-data/, so make the lake writable and rerun. "
            "Nothing was deleted"
        ) from None
