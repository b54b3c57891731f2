"""`stockpipe chaos`: SIGKILL the consumers at random moments, then prove nothing was
lost or duplicated.

One seeded dataset is ingested once into an embedded stream. The archive and process
consumers run as separate processes over lake A and are killed with SIGKILL N times at
random moments, each time restarted. A clean one-shot run of the same stream writes lake
B. The verdict compares A with B table by table, and checks that every stream record is
in A's raw zone exactly once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stockpipe import calendar
from stockpipe.contract import BARS, DAILY, QUARANTINE, Table
from stockpipe.lake import manifest, partitions
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.local import LocalLake
from stockpipe.lake.raw import iter_raw
from stockpipe.pipeline import stages
from stockpipe.pipeline.signals import StopSignals
from stockpipe.processing import engine
from stockpipe.sources.simulator import MarketSimulator
from stockpipe.stream.local import LocalStream

CONSUMERS = ("archive", "process")
# The process consumer compacts after every batch and deletes what a compaction superseded
# this soon after (the defaults are 30 s and 60 s, longer than a chaos run between kills),
# so the kills also land inside compactions: between the merged file's write, its
# manifest's publish and the deletes of the files it replaced (issue 21 item 2).
CHAOS_COMPACT_EVERY_S = 0.0
CHAOS_GRACE_S = 0.5
DATA_START = date(2026, 11, 2)


@dataclass
class ChaosVerdict:
    kills: int
    records_in: int
    records_out: int
    lost: int
    duplicated: int
    tables_identical: dict[str, bool] = field(default_factory=dict)
    accounting: dict[str, int] = field(default_factory=dict)
    #: table -> the most files any partition of the killed run's lake is read from (its
    #: process consumer compacts after every batch, so 1 once it caught up)
    files_per_partition: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        acc = self.accounting
        balanced = acc.get("read") == acc.get("kept", 0) + acc.get("duplicates", 0) + acc.get(
            "quarantined", 0
        )
        return (
            self.lost == 0
            and self.duplicated == 0
            and all(self.tables_identical.values())
            and balanced
            and acc.get("read") == self.records_in
        )

    def line(self) -> str:
        word = "PASS" if self.ok else "FAIL"
        tables = ", ".join(
            f"{k} {'identical' if v else 'DIFFERENT'}" for k, v in self.tables_identical.items()
        )
        return (
            f"{word}: kills survived {self.kills}, records in {self.records_in}, "
            f"records out {self.records_out}, records lost {self.lost}, "
            f"records duplicated {self.duplicated}; {tables}"
        )


def _consumer_main(stage: str, stream_path: str, lake_root: str, max_records: int) -> None:
    stream = LocalStream(stream_path)
    lake = LocalLake(lake_root)
    runner = stages.run_archive if stage == "archive" else stages.run_process
    if stage == "process":
        # This spawned process only: the engine's and the partition sets' module settings.
        engine.COMPACT_EVERY_S = CHAOS_COMPACT_EVERY_S
        partitions.SUPERSEDED_GRACE_S = CHAOS_GRACE_S
    with StopSignals((signal.SIGTERM,)) as stop:
        runner(stream, lake, follow=True, stop=stop, max_records=max_records)


def ingest_dataset(stream: LocalStream, seed: int, symbols: list[str], days: int) -> int:
    sim = MarketSimulator(
        symbols, calendar.sessions_from(DATA_START, days), seed=seed, fault_rate=0.03
    )
    return stages.run_ingest(sim, stream).records


def _table(lake_root: Path, table: Table) -> pa.Table:
    """A table's contract columns plus its dt partition, in key order: the files its
    manifests name (every file of a partition without one), as any reader reads it."""
    lake = LocalLake(lake_root)
    parts = []
    for dt, paths in manifest.live_files(lake, table.prefix).items():
        for path in paths:
            data = pq.read_table(lake.uri(path), columns=table.column_names)
            data = data.cast(table.arrow_schema())
            parts.append(data.append_column("dt", pa.array([dt] * data.num_rows, pa.string())))
    if not parts:
        return table.arrow_schema().empty_table()
    return pa.concat_tables(parts).sort_by([(k, "ascending") for k in table.key])


def _caught_up(stream: LocalStream, lake: LocalLake) -> bool:
    for name in CONSUMERS:
        cp = LakeCheckpointStore(lake).load(name)
        for shard in stream.list_shards():
            if stream.pending(shard.shard_id, cp.shards.get(shard.shard_id)):
                return False
    return True


def run_chaos(
    workdir: Path,
    kills: int = 50,
    seed: int = 7,
    symbols: list[str] | None = None,
    days: int = 3,
    max_records: int = 400,
    *,
    log: bool = True,
) -> ChaosVerdict:
    symbols = symbols or ["AAPL", "MSFT", "NVDA", "JPM"]
    workdir.mkdir(parents=True, exist_ok=True)
    stream_path = workdir / "stream.db"
    chaos_root, clean_root = workdir / "lake-chaos", workdir / "lake-clean"
    stream = LocalStream(stream_path)
    records_in = ingest_dataset(stream, seed, symbols, days)
    rng = random.Random(seed)  # noqa: S311 - a reproducible kill schedule, not a secret
    ctx = mp.get_context("spawn")

    def start(stage: str) -> mp.process.BaseProcess:
        proc = ctx.Process(
            target=_consumer_main,
            args=(stage, str(stream_path), str(chaos_root), max_records),
            name=f"chaos-{stage}",
        )
        proc.start()
        return proc

    procs = {name: start(name) for name in CONSUMERS}
    survived = 0
    chaos_lake = LocalLake(chaos_root)
    for i in range(kills):
        victim = rng.choice(CONSUMERS)
        # Let the victim get going (imports take a while), then kill it at a random moment.
        time.sleep(rng.uniform(0.3, 1.2))
        proc = procs[victim]
        if proc.pid is not None and proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        survived += 1
        if log:
            print(f"kill {i + 1}/{kills}: SIGKILL {victim}", flush=True)
        procs[victim] = start(victim)
    deadline = time.monotonic() + 600
    while not _caught_up(stream, chaos_lake) and time.monotonic() < deadline:
        time.sleep(0.3)
    for proc in procs.values():
        if proc.pid is not None and proc.is_alive():
            os.kill(proc.pid, signal.SIGTERM)
        proc.join(30)

    clean_lake = LocalLake(clean_root)
    stages.run_archive(stream, clean_lake)
    stages.run_process(stream, clean_lake)

    in_stream: Counter[tuple[str, str]] = Counter()
    for shard in stream.list_shards():
        it: str | None = stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
        while it is not None:
            res = stream.get_records(it)
            if not res.records:
                break
            in_stream.update((r.shard_id, r.sequence_number) for r in res.records)
            it = res.next_iterator
    in_raw = Counter((r.shard_id, r.sequence_number) for r in iter_raw(chaos_lake))
    stream.close()
    identical = {
        t.name: _table(chaos_root, t).equals(_table(clean_root, t))
        for t in (BARS, DAILY, QUARANTINE)
    }
    return ChaosVerdict(
        kills=survived,
        records_in=sum(in_stream.values()) if in_stream else records_in,
        records_out=sum(in_raw.values()),
        lost=sum(1 for k in in_stream if k not in in_raw),
        duplicated=sum(c - 1 for c in in_raw.values() if c > 1),
        tables_identical=identical,
        files_per_partition={
            t.name: max(map(len, manifest.live_files(chaos_lake, t.prefix).values()), default=0)
            for t in (BARS, DAILY, QUARANTINE)
        },
        accounting={
            k: int(v)
            for k, v in LakeCheckpointStore(chaos_lake).load("process").state.items()
            if isinstance(v, int)
        },
    )
