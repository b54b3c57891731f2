"""`process --workers N` in one process (issue 21 item 5): the workers' stages run one after
the other on the same stream, and `reprocess --workers M`; the spawned processes are in
tests/pipeline/test_process_workers.py."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from stockpipe.config import load_settings
from stockpipe.contract import BARS, DAILY, LATEST, QUARANTINE
from stockpipe.dashboard.health import HealthReader
from stockpipe.errors import ConfigError
from stockpipe.lake import maintenance, manifest
from stockpipe.lake.local import LocalLake
from stockpipe.lake.raw import RawArchiver
from stockpipe.pipeline.stages import run_process
from stockpipe.pipeline.status import pipeline_status
from stockpipe.processing import workers
from stockpipe.processing.engine import reprocess
from stockpipe.processing.zone import every_writer_partitions
from stockpipe.stream.base import batched_puts
from stockpipe.stream.local import LocalStream
from stockpipe.stream.slices import HashSlice
from stockpipe.testing.lake_content import lake_content

TABLES = (BARS.prefix, DAILY.prefix, QUARANTINE.prefix)
SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "META"]


def latest_table(lake: LocalLake) -> pa.Table:
    """Every file of processed-data/latest/ (what DuckDB and Athena read), sorted by key."""
    files = sorted(lake.list(LATEST.prefix))
    table = pa.concat_tables([lake.read_parquet(p) for p in files])
    return table.sort_by([(k, "ascending") for k in ("symbol", "interval", "dt")])


def _put(stream: LocalStream, payloads: list[tuple[str, bytes]]) -> None:
    for call in batched_puts(payloads):
        stream.put_records(call)


def _writers(lake: LocalLake) -> set[str]:
    return {p.rsplit("/", 1)[-1].split("-")[0] for p in lake.list(BARS.prefix) if "/dt=" in p}


def test_two_workers_write_the_same_tables_as_one(tmp_path: Path, sim_records) -> None:
    _, records = sim_records(SYMBOLS, 2, seed=5, fault_rate=0.05)
    payloads = [(r.partition_key, r.data) for r in records]
    # One stream read by both lakes (checkpoints live in the lake): same stream positions.
    stream = LocalStream(tmp_path / "stream.db", shard_count=4)
    lakes = {count: LocalLake(tmp_path / f"lake{count}") for count in (1, 2)}
    workers.settle_workers(lakes[2], 2)
    mid = len(payloads) // 2
    # Two runs each, so the workers resume from their own checkpoints.
    for half in (payloads[:mid], payloads[mid:]):
        _put(stream, half)
        for count, lake in lakes.items():
            for k in range(count):
                piece = HashSlice(k, count) if count > 1 else None
                run_process(stream, lake, max_records=700, hash_slice=piece)
    totals = {}
    for count, lake in lakes.items():
        status = pipeline_status(stream, lake)["consumers"][1]
        assert status.name == "process" and status.pending == 0
        assert status.state["read"] == len(records)
        totals[count] = status.state
    stream.close()
    one, two = lakes[1], lakes[2]
    assert totals[1] == totals[2]
    assert lake_content(two, TABLES) == lake_content(one, TABLES)
    assert latest_table(two).equals(latest_table(one))
    assert _writers(one) == {"w0"} and _writers(two) == {"w0", "w1"}
    # Each worker keeps its own series index, latest file and checkpoint.
    assert two.exists("_state/processing/series-w1.json")
    assert sorted(two.list(LATEST.prefix)) == [
        f"{LATEST.prefix}/part-0.parquet",
        f"{LATEST.prefix}/w1.parquet",
    ]
    assert two.exists("_checkpoints/process-w1/checkpoint.json")
    assert not two.exists("_checkpoints/process/checkpoint.json")
    # The dashboard's health panel: each worker's lag over the shards it reads, the
    # counters summed over the workers.
    settings = load_settings({"home": str(tmp_path / "home")}).settings
    health = HealthReader(
        settings, two, open_stream=lambda: LocalStream(tmp_path / "stream.db", shard_count=4)
    ).read()
    assert {c["name"]: c["pending"] for c in health["consumers"]} == {
        "process-w0": 0,
        "process-w1": 0,
    }
    assert (health["quarantined"], health["duplicates"]) == (
        totals[1]["quarantined"],
        totals[1]["duplicates"],
    )
    assert health["quarantined"] > 0 and health["duplicates"] > 0
    # `stockpipe compact` merges every worker's files, each into its own one file.
    before = lake_content(two, TABLES)
    assert max(len(f) for f in manifest.scan(two, BARS.prefix)["2026-03-02"].manifests.values()) > 1
    maintenance.compact(two, every_writer_partitions(two))
    for prefix in TABLES:
        for part in manifest.scan(two, prefix).values():
            assert sorted(part.manifests) == ["w0", "w1"]
            assert all(len(files) == 1 for files in part.manifests.values())
    assert lake_content(two, TABLES) == before


def test_the_lake_records_its_workers_and_refuses_another_number(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    assert workers.lake_workers(lake) == 1
    assert workers.settle_workers(lake, 1) == 1
    assert not lake.exists(workers.RECORD)  # no record is one worker
    assert workers.settle_workers(lake, 3) == 3  # no rows yet: any number, recorded
    assert workers.recorded_workers(lake) == 3
    assert workers.settle_workers(lake, 2) == 2
    lake.write_bytes("quarantine/dt=2026-01-02/part-0.parquet", b"")  # a row (any file counts)
    with pytest.raises(ConfigError) as refused:
        workers.settle_workers(lake, 1)
    assert str(refused.value) == (
        "--workers 1 but the lake's processed zone was written by 2 workers (recorded in "
        "_state/processing/workers.json): run with --workers 2, or rebuild it with "
        "`stockpipe reprocess --workers 1`"
    )
    lake.delete(workers.RECORD)  # a lake from before the record: one worker
    with pytest.raises(ConfigError, match=r"^--workers 2 but .* by 1 worker \(no "):
        workers.settle_workers(lake, 2)


def test_reprocess_with_two_workers_then_process_on_equals_one(tmp_path: Path, sim_records) -> None:
    _, records = sim_records(SYMBOLS, 2, seed=8, fault_rate=0.05)
    first, rest = records[: len(records) // 2], records[len(records) // 2 :]
    lakes = {}
    for count in (1, 2):
        lake = LocalLake(tmp_path / f"lake{count}")
        RawArchiver(lake).write(first)
        stats = reprocess(lake, workers=count)
        assert stats.balanced and stats.read == len(first)
        lakes[count] = (lake, stats)
    (one, one_stats), (two, two_stats) = lakes[1], lakes[2]
    assert one_stats == two_stats
    assert workers.recorded_workers(two) == 2 and workers.recorded_workers(one) is None
    assert lake_content(two, TABLES) == lake_content(one, TABLES)
    assert latest_table(two).equals(latest_table(one))
    # A plain `process` on the two-worker lake is refused; `--workers 2` goes on.
    stream = LocalStream(tmp_path / "stream.db", shard_count=4)
    _put(stream, [(r.partition_key, r.data) for r in rest])
    with pytest.raises(ConfigError, match=r"^--workers 1 but .* by 2 workers"):
        run_process(stream, two)
    for k in range(2):
        run_process(stream, two, hash_slice=HashSlice(k, 2))
    run_process(stream, one)
    stream.close()
    assert lake_content(two, TABLES) == lake_content(one, TABLES)
    assert latest_table(two).equals(latest_table(one))
    # A date range keeps the lake's workers (and changes nothing: every record is stored).
    before = lake_content(two, TABLES)
    reprocess(two, "2000-01-01", "2100-01-01")
    assert lake_content(two, TABLES) == before and _writers(two) == {"w0", "w1"}
    with pytest.raises(ConfigError, match=r"^--workers 3 but"):
        reprocess(two, "2000-01-01", "2100-01-01", workers=3)


def test_bad_worker_arguments_are_one_line(cli, home) -> None:
    cases = {
        ("process", "--workers", "0"): "error: --workers 0 is out of range: use 1 to 64",
        (
            "run",
            "--workers",
            "65",
            "--no-dashboard",
        ): "error: --workers 65 is out of range: use 1 to 64",
        ("reprocess", "--engine", "spark", "--workers", "2"): (
            "error: --workers applies to --engine local: Spark writes one zone"
        ),
    }
    for args, line in cases.items():
        result = cli(*args)
        assert result.code != 0, args
        assert " ".join(result.err.split()) == line, args


def test_a_rebuild_as_two_workers_continues_where_the_one_stopped(
    tmp_path: Path, sim_records
) -> None:
    from stockpipe.lake.checkpoints import LakeCheckpointStore
    from stockpipe.pipeline.reprocess import rebuild_processed
    from stockpipe.pipeline.stages import run_archive

    _, records = sim_records(SYMBOLS, 2, seed=9, fault_rate=0.05)
    first, rest = records[: len(records) // 2], records[len(records) // 2 :]
    stream = LocalStream(tmp_path / "stream.db", shard_count=4)
    lake, alone = LocalLake(tmp_path / "lake"), LocalLake(tmp_path / "alone")
    _put(stream, [(r.partition_key, r.data) for r in first])
    run_archive(stream, lake)
    run_process(stream, lake)
    run_process(stream, alone)
    store = LakeCheckpointStore(lake)
    before = store.load("process")
    settings = load_settings({"home": str(tmp_path / "home")}).settings

    rebuild_processed(settings, lake, "local", workers=2)

    # Each new worker starts at the old checkpoint's positions, the totals carry over, and
    # the old checkpoint is gone.
    new = [store.load(f"process-w{k}") for k in range(2)]
    assert [cp.shards for cp in new] == [before.shards, before.shards]
    assert new[0].state == before.state and new[1].state["read"] == 0
    assert not lake.exists("_checkpoints/process/checkpoint.json")
    _put(stream, [(r.partition_key, r.data) for r in rest])
    runs = [run_process(stream, lake, hash_slice=HashSlice(k, 2)) for k in range(2)]
    run_process(stream, alone)
    stream.close()
    # Only the new records were read, not the whole stream again.
    assert sum(r.records for r in runs) == len(rest)
    totals = [store.load(f"process-w{k}").state for k in range(2)]
    expected = LakeCheckpointStore(alone).load("process").state
    for counter in ("read", "kept", "duplicates", "quarantined"):
        assert totals[0][counter] + totals[1][counter] == expected[counter], counter
    assert expected["read"] == len(records)
    assert lake_content(lake, TABLES) == lake_content(alone, TABLES)
