"""`stockpipe reprocess`: rebuild processed-data/ and quarantine/ from raw-data/.

Without a date range the processed zone is deleted and rebuilt from every raw record
(refused while raw-data/ is behind the process checkpoint, see reprocess_guard.py); with
one, those days' raw records are merged into the existing tables. Either engine, the
embedded one or Spark, runs under the `process` consumer's lock, so a running `process`
and a rebuild never interleave two writers.
"""

from __future__ import annotations

from stockpipe.config import Settings
from stockpipe.errors import ConfigError
from stockpipe.lake.base import Lake
from stockpipe.lake.checkpoints import LakeCheckpointStore, checkpoint_path
from stockpipe.lake.lock import consumer_lock
from stockpipe.pipeline.reprocess_guard import (
    check_raw_covers_processed,
    check_writable,
    furthest_positions,
)
from stockpipe.pipeline.stages import PROCESS_CONSUMER
from stockpipe.processing.base import BatchStats
from stockpipe.processing.workers import lake_workers, worker_consumers
from stockpipe.stream.checkpoint import Checkpoint

ENGINES = ("local", "spark")


def rebuild_processed(
    settings: Settings,
    lake: Lake,
    engine: str,
    from_date: str | None = None,
    to_date: str | None = None,
    master: str | None = None,
    workers: int | None = None,
) -> BatchStats:
    """Reprocess raw-data/ arrival dates `from_date`..`to_date` (all when both are None);
    a full rebuild with the embedded engine writes the zone as `workers` writers."""
    with consumer_lock(lake, PROCESS_CONSUMER):
        full = from_date is None and to_date is None
        if engine == "spark" and (workers or 1) > 1:
            raise ConfigError("--workers applies to --engine local: Spark writes one zone")
        if engine == "spark" and not full and lake_workers(lake) > 1:
            raise ConfigError(
                f"the lake was processed by {lake_workers(lake)} workers, which Spark does not "
                "write as: reprocess this range with --engine local, or rebuild it all with "
                "Spark (no --from/--to)"
            )
        check_writable(lake)
        if full:
            # Only a full rebuild deletes; a date range merges and loses nothing.
            check_raw_covers_processed(lake)
        if engine == "local":
            from stockpipe.processing.engine import reprocess as reprocess_local

            before = lake_workers(lake)
            stats = reprocess_local(
                lake, from_date, to_date, settings.indicator_sessions, workers=workers
            )
            if full and lake_workers(lake) != before:
                hand_over_checkpoints(lake, before, lake_workers(lake))
            return stats
        from stockpipe.spark import build_session, reprocess_spark

        spark = build_session(master or "local[*]", "stockpipe-reprocess")
        return reprocess_spark(
            spark,
            settings.lake_location,
            from_date,
            to_date,
            indicator_sessions=settings.indicator_sessions,
        )


def hand_over_checkpoints(lake: Lake, before: int, after: int) -> None:
    """After a full rebuild as `after` workers (the lake had `before`): each new worker's
    checkpoint starts where the old ones had got to, and the old checkpoints are deleted
    (their folders keep the locks).

    The rebuild refused to run unless raw-data/ covers, per shard, the furthest position
    any old worker reached (reprocess_guard.py), so every record up to there is in the
    rebuilt tables: the new workers continue after it, as the old ones would have,
    instead of reading the stream from its start and counting all of it again as
    duplicates. The running totals carry over too (in the first new worker's state:
    status sums the workers).
    """
    store = LakeCheckpointStore(lake)
    old = [store.load(name) for name in worker_consumers(PROCESS_CONSUMER, before)]
    shards = furthest_positions(old)
    finished = sorted({shard for cp in old for shard in cp.finished})
    stream = next((cp.stream for cp in old if cp.stream), None)
    totals = BatchStats()
    for cp in old:
        totals = totals + BatchStats.from_state(cp.state)
    for k, name in enumerate(worker_consumers(PROCESS_CONSUMER, after)):
        state = totals.to_state() if k == 0 else BatchStats().to_state()
        store.save(Checkpoint(name, dict(shards), list(finished), state, stream=stream))
    kept = set(worker_consumers(PROCESS_CONSUMER, after))
    for cp in old:
        if cp.consumer not in kept:
            lake.delete(checkpoint_path(cp.consumer))
