"""What `stockpipe status` (and the live view of `stockpipe run`) reports."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow.parquet as pq

from stockpipe.contract import BARS, DAILY, QUARANTINE, RAW
from stockpipe.lake import manifest
from stockpipe.lake.base import Lake
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.pipeline.stages import ARCHIVE_CONSUMER, PROCESS_CONSUMER
from stockpipe.processing.base import BatchStats
from stockpipe.processing.workers import lake_workers, worker_consumers
from stockpipe.stream.base import Stream, seq_key
from stockpipe.stream.consumer import verify_checkpoint
from stockpipe.stream.slices import HashSlice

COUNTERS = ("read", "kept", "duplicates", "quarantined")


@dataclass
class ConsumerStatus:
    name: str
    shards: dict[str, str | None]
    pending: int | None
    updated_at: str | None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class LakeStatus:
    rows: dict[str, int]
    files: dict[str, int]
    last_bar: datetime | None


def consumer_status(stream: Stream | None, lake: Lake, name: str) -> ConsumerStatus:
    cp = LakeCheckpointStore(lake).load(name)
    shards: dict[str, str | None] = {}
    pending: int | None = 0
    if stream is not None:
        # A checkpoint of another stream would show a lag of 0 while records are missed.
        verify_checkpoint(stream, LakeCheckpointStore(lake), cp)
        for shard in stream.list_shards():
            committed = cp.shards.get(shard.shard_id)
            shards[shard.shard_id] = committed
            n = stream.pending(shard.shard_id, committed)
            pending = None if n is None or pending is None else pending + n
    else:
        shards = dict(cp.shards)
        pending = None
    return ConsumerStatus(name, shards, pending, cp.updated_at, cp.state)


def workers_status(stream: Stream | None, lake: Lake, count: int) -> ConsumerStatus:
    """The `process` stage of `count` workers as one consumer: per shard the position of
    the slowest worker that reads it (so `pending` is what the stage has yet to pass),
    the counters summed, the newest commit."""
    store = LakeCheckpointStore(lake)
    names = worker_consumers(PROCESS_CONSUMER, count)
    cps = [store.load(name) for name in names]
    totals = BatchStats()
    for cp in cps:
        totals = totals + BatchStats.from_state(cp.state)
    updated = max((cp.updated_at for cp in cps if cp.updated_at), default=None)
    shards: dict[str, str | None] = {}
    pending: int | None = 0
    if stream is None:
        for cp in cps:
            for shard_id, seq in cp.shards.items():
                shards[shard_id] = _earliest(shards.get(shard_id, seq), seq)
        pending = None
    else:
        for cp in cps:
            verify_checkpoint(stream, store, cp)
        for shard in stream.list_shards():
            readers = [cp for k, cp in enumerate(cps) if HashSlice(k, count).meets(shard)]
            committed: str | None = None
            if readers and all(shard.shard_id in cp.shards for cp in readers):
                committed = min((cp.shards[shard.shard_id] for cp in readers), key=seq_key)
            shards[shard.shard_id] = committed
            n = stream.pending(shard.shard_id, committed)
            pending = None if n is None or pending is None else pending + n
    return ConsumerStatus(PROCESS_CONSUMER, shards, pending, updated, totals.to_state())


def _earliest(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return None
    return min(a, b, key=seq_key)


def process_status(stream: Stream | None, lake: Lake) -> ConsumerStatus:
    """The `process` consumer, or its workers' merged (`process --workers N`)."""
    count = lake_workers(lake)
    if count == 1:
        return consumer_status(stream, lake, PROCESS_CONSUMER)
    return workers_status(stream, lake, count)


def _parquet_rows(lake: Lake, prefix: str) -> tuple[int, int]:
    """Rows and files of a table as a reader sees it: the files its manifests name."""
    rows = files = 0
    for paths in manifest.live_files(lake, prefix).values():
        for path in paths:
            files += 1
            rows += pq.ParquetFile(io.BytesIO(lake.read_bytes(path))).metadata.num_rows
    return rows, files


def _last_bar(lake: Lake) -> datetime | None:
    live = manifest.live_files(lake, BARS.prefix)
    if not live:
        return None
    latest = None
    for path in live[max(live)]:
        ts = lake.read_parquet(path).column("ts")
        if len(ts):
            value = max(ts.to_pylist())
            latest = value if latest is None or value > latest else latest
    return latest


def lake_status(lake: Lake) -> LakeStatus:
    rows: dict[str, int] = {}
    files: dict[str, int] = {}
    for table in (BARS, DAILY, QUARANTINE):
        rows[table.name], files[table.name] = _parquet_rows(lake, table.prefix)
    files[RAW.name] = sum(1 for p in lake.list(RAW.prefix) if p.endswith(".jsonl"))
    return LakeStatus(rows, files, _last_bar(lake))


def pipeline_status(stream: Stream | None, lake: Lake) -> dict[str, Any]:
    consumers = [consumer_status(stream, lake, ARCHIVE_CONSUMER), process_status(stream, lake)]
    return {"consumers": consumers, "lake": lake_status(lake)}


def _stream_total(stream: Stream | None) -> int | None:
    """Records the stream holds (within retention); None when it cannot count them."""
    if stream is None:
        return None
    total = 0
    for shard in stream.list_shards():
        n = stream.pending(shard.shard_id, None)
        if n is None:
            return None
        total += n
    return total


@dataclass
class Sample:
    """Counters at one moment, kept to turn the next reading into rates."""

    at: float
    produced: int | None
    consumed: dict[str, int | None]


def _rate(now: Sample, before: Sample | None, key: str) -> float | None:
    if before is None or now.at <= before.at:
        return None
    if key == "ingest":
        a, b = now.produced, before.produced
    else:
        a, b = now.consumed.get(key), before.consumed.get(key)
    if a is None or b is None:
        return None
    return max(0.0, (a - b) / (now.at - before.at))


def _metric(metrics: dict[str, Any], stage: str, name: str, field_: str) -> float | None:
    m = metrics.get(stage, {}).get(name) if isinstance(metrics.get(stage), dict) else None
    value = m.get(field_) if isinstance(m, dict) else None
    return float(value) if isinstance(value, int | float) else None


class StatusReader:
    """One reading of everything the status view and `status --json` show.

    Counters come from the consumer checkpoints (committed with each batch, so always
    current), the stream, the local metrics file (re-read on every call, so values the
    stages flush while running show up at once) and the run-state files. Rates need two
    readings: the first reading of a reader has none.
    """

    def __init__(self, settings: Any, stream: Stream | None, lake: Lake) -> None:
        self.settings = settings
        self.stream = stream
        self.lake = lake
        self._previous: Sample | None = None

    def read(self, clock: Any = None) -> dict[str, Any]:
        import time

        from stockpipe.pipeline import runstate
        from stockpipe.pipeline.homelock import holder

        st = pipeline_status(self.stream, self.lake)
        from stockpipe.metrics import read_local_metrics

        # Both backends keep state/metrics.json (CloudWatch through its local mirror).
        metrics: dict[str, Any] = read_local_metrics(self.settings).get("stages", {})
        produced = _stream_total(self.stream)
        consumers = {c.name: c for c in st["consumers"]}
        consumed = {
            name: None if produced is None or c.pending is None else produced - c.pending
            for name, c in consumers.items()
        }
        sample = Sample((clock or time.monotonic)(), produced, consumed)
        previous, self._previous = self._previous, sample
        state_dir = self.settings.state_dir
        run = runstate.read_state(state_dir, runstate.RUN) or {}
        progress = runstate.read_state(state_dir, runstate.INGEST)
        holding = holder(self.settings.home)
        stages: dict[str, dict[str, Any]] = {
            "ingest": {"rate": _rate(sample, previous, "ingest"), "in_stream": produced}
        }
        for name, c in consumers.items():
            stages[name] = {
                "rate": _rate(sample, previous, name),
                "lag_records": c.pending,
                "lag_ms": _metric(metrics, name, "ProcessingLagMs", "last"),
            }
        process = consumers[PROCESS_CONSUMER].state
        lake = st["lake"]
        return {
            "running": holding is not None,
            "pid": (holding or {}).get("pid"),
            "url": run.get("url") if holding is not None else None,
            "stage_states": run.get("stages", {}),
            "result": run.get("result"),
            "phase": runstate.phase_text(progress),
            "clock": runstate.clock_text(progress),
            "progress": progress,
            "stages": stages,
            "counters": {k: int(process.get(k, 0)) for k in COUNTERS},
            "last_bar": lake.last_bar,
            "warning": runstate.read_state(state_dir, runstate.WARNING),
            "consumers": st["consumers"],
            "lake": lake,
            "metrics": metrics,
        }


def process_summary(records: int, run: dict[str, Any], totals: dict[str, Any]) -> str:
    """`stockpipe process`'s line: this run's figures (read = kept + duplicates +
    quarantined), then the totals since the first run apart."""
    reasons = ", ".join(f"{k} {v}" for k, v in run.get("reasons", {}).items())
    line = (
        f"processed {records} records this run: read {run.get('read', 0)} = "
        f"kept {run.get('kept', 0)} + duplicates {run.get('duplicates', 0)} + "
        f"quarantined {run.get('quarantined', 0)}"
    )
    if reasons:
        line += f" ({reasons})"
    return line + "; since the first run: " + ", ".join(f"{k} {totals.get(k, 0)}" for k in COUNTERS)


def status_json(report: dict[str, Any]) -> dict[str, Any]:
    """`stockpipe status --json`: the panel's values plus checkpoints (sequence numbers)."""
    lake: LakeStatus = report["lake"]
    last = report["last_bar"]
    return {
        "run": {
            "running": report["running"],
            "pid": report["pid"],
            "url": report["url"],
            "phase": report["phase"],
            "clock": report["clock"],
            "progress": report["progress"],
            "stages": report["stage_states"],
            "result": report["result"],
            "last_warning": report["warning"],
        },
        "stages": report["stages"],
        "counters": report["counters"],
        "consumers": {
            c.name: {
                "checkpoint": c.shards,
                "pending": c.pending,
                "state": c.state,
                "updated_at": c.updated_at,
            }
            for c in report["consumers"]
        },
        "lake": {
            "rows": lake.rows,
            "files": lake.files,
            "last_bar": last.isoformat() if last else None,
        },
        "metrics": report["metrics"],
    }
