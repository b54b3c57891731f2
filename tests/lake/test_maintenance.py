"""compact merges partition files without losing or doubling rows; expire follows dates."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import pyarrow.parquet as pq

from stockpipe.contract import BARS, QUARANTINE
from stockpipe.lake import maintenance, manifest, partitions
from stockpipe.lake.local import LocalLake
from stockpipe.lake.lock import consumer_lock
from stockpipe.processing.engine import Processor
from stockpipe.processing.zone import processed_partitions
from stockpipe.records import Bar
from stockpipe.stream.base import StreamRecord

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def _records(n: int) -> list[StreamRecord]:
    out = []
    for i in range(n):
        bar = Bar("AAPL", "1min", T0.replace(minute=30 + i), 10.0, 11.0, 9.0, 10.0 + i / 100,
                  100 + i, "test")  # fmt: skip
        out.append(StreamRecord("shardId-000000000000", str(i + 1), "AAPL", bar.to_json(), T0))
    return out


def _rows(lake: LocalLake, prefix: str) -> list[dict]:
    rows = []
    for path in lake.list(prefix):
        rows += pq.read_table(io.BytesIO(lake.read_bytes(path))).to_pylist()
    return rows


def test_compact_merges_foreign_files_into_one_manifested_file(tmp_path, monkeypatch) -> None:
    lake = LocalLake(tmp_path)
    Processor(lake).process(_records(20))
    (written,) = manifest.read_partition(lake, BARS.prefix, "2026-03-02").files
    table = lake.read_parquet(written)
    # Another writer (e.g. Spark before manifests) left the partition as two files
    # without a manifest, one row repeated.
    for path in lake.list(BARS.prefix):
        lake.delete(path)
    folder = f"{BARS.prefix}/dt=2026-03-02"
    foreign = [f"{folder}/part-00000-a.parquet", f"{folder}/part-00001-a.parquet"]
    lake.write_parquet(foreign[0], table.slice(0, 12))
    lake.write_parquet(foreign[1], table.slice(11))
    report = maintenance.compact(lake, processed_partitions(lake), dry_run=True)
    assert (report.partitions, report.files_merged) == (1, 1)
    assert lake.list(folder) == foreign  # dry run changed nothing
    report = maintenance.compact(lake, processed_partitions(lake))
    assert (report.partitions, report.files_merged, report.files_deleted) == (1, 1, 0)
    part = manifest.read_partition(lake, BARS.prefix, "2026-03-02")
    (merged,) = part.files
    assert lake.read_parquet(merged).equals(table)  # the 20 rows once, sorted as written
    # The merged files stay for readers that listed them a moment ago ...
    assert sorted(part.unreferenced()) == foreign
    assert maintenance.compact(lake, processed_partitions(lake)).files_deleted == 0
    # ... and go once the grace period is over.
    monkeypatch.setattr(partitions, "SUPERSEDED_GRACE_S", 0.0)
    report = maintenance.compact(lake, processed_partitions(lake))
    assert (report.partitions, report.files_deleted) == (0, 2)
    assert lake.list(folder) == [merged]


def test_compact_merges_closed_raw_hours_only(tmp_path) -> None:
    lake = LocalLake(tmp_path)
    for seq in (5, 7, 9):
        line = json.dumps({"shard_id": "shardId-1", "sequence_number": str(seq)})
        lake.write_bytes(f"raw-data/dt=2026-03-02/hour=14/shardId-1-{seq}.jsonl",
                         (line + "\n").encode())  # fmt: skip
    lake.write_bytes("raw-data/dt=2026-03-02/hour=15/shardId-1-11.jsonl", b"{}\n")
    lake.write_bytes("raw-data/dt=2026-03-02/hour=15/shardId-1-12.jsonl", b"{}\n")
    now = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 15:00-16:00 closed 30 min ago
    report = maintenance.compact(lake, processed_partitions(lake), now=now)
    assert report.files_merged == 2
    assert lake.list("raw-data/dt=2026-03-02/hour=14") == [
        "raw-data/dt=2026-03-02/hour=14/shardId-1-5.jsonl"
    ]
    merged = lake.read_bytes("raw-data/dt=2026-03-02/hour=14/shardId-1-5.jsonl").splitlines()
    assert [json.loads(x)["sequence_number"] for x in merged] == ["5", "7", "9"]
    assert len(lake.list("raw-data/dt=2026-03-02/hour=15")) == 2


def test_expire_deletes_partitions_older_than_retention(tmp_path) -> None:
    lake = LocalLake(tmp_path)
    for dt in ("2026-02-27", "2026-02-28", "2026-03-01"):
        lake.write_bytes(f"raw-data/dt={dt}/hour=10/s-1.jsonl", b"{}\n")
        lake.write_bytes(f"processed-data/bars/dt={dt}/part-0.parquet", b"x")
        lake.write_bytes(f"processed-data/daily/dt={dt}/part-0.parquet", b"x")
        lake.write_bytes(f"quarantine/dt={dt}/part-0.parquet", b"x")
    report = maintenance.expire(lake, raw_days=2, processed_days=3, today=date(2026, 3, 2))
    assert report.cutoffs["raw-data"] == "2026-02-28"
    assert [p.split("/")[1] for p in lake.list("raw-data")] == ["dt=2026-02-28", "dt=2026-03-01"]
    assert len(lake.list("processed-data/bars")) == 3  # cutoff 2026-02-27 keeps all
    assert len(lake.list("quarantine")) == 3  # no --quarantine-days: kept
    maintenance.expire(lake, processed_days=2, quarantine_days=1, today=date(2026, 3, 2))
    assert len(lake.list("processed-data")) == 4
    assert lake.list("quarantine") == ["quarantine/dt=2026-03-01/part-0.parquet"]


def test_files_per_date_counts_the_files_of_each_dt_partition(tmp_path) -> None:
    lake = LocalLake(tmp_path)
    lake.write_bytes("raw-data/dt=2026-03-01/hour=09/s-1.jsonl", b"{}\n")
    lake.write_bytes("raw-data/dt=2026-03-01/hour=10/s-1.jsonl", b"{}\n")
    lake.write_bytes("raw-data/dt=2026-03-02/hour=10/s-2.jsonl", b"{}\n")
    lake.write_bytes("raw-data/stray.txt", b"not a partition")
    assert maintenance.files_per_date(lake, "raw-data") == {"2026-03-01": 2, "2026-03-02": 1}
    assert maintenance.files_per_date(lake, "quarantine") == {}


def test_cli_compact_and_expire(cli, tmp_path) -> None:
    lake = LocalLake(tmp_path / "lk")
    lake.write_bytes("raw-data/dt=2001-01-01/hour=10/s-1.jsonl", b"{}\n")
    result = cli("expire", "--raw-days", "30", "--lake", str(tmp_path / "lk"))
    assert result.code == 0, result.err
    assert "deleted 1 files" in result.out
    assert lake.list("raw-data") == []
    result = cli("compact", "--lake", str(tmp_path / "lk"))
    assert result.code == 0 and "merged 0 files" in result.out
    bad = cli("expire", "--raw-days", "0", "--lake", str(tmp_path / "lk"))
    assert bad.code != 0 and "--raw-days 0" in bad.err


def test_expire_empties_a_partitions_manifests_before_deleting_its_files(tmp_path) -> None:
    lake = _Recording(tmp_path)
    Processor(lake).process(_records(20))
    folder = f"{BARS.prefix}/dt=2026-03-02"
    manifest_file = manifest.manifest_path(BARS.prefix, "2026-03-02", "w0")
    (data,) = manifest.read_partition(lake, BARS.prefix, "2026-03-02").files
    lake.log.clear()
    report = maintenance.expire(lake, processed_days=1, today=date(2026, 3, 4))
    assert report.deleted[BARS.prefix] == 2  # the data file and the manifest
    assert lake.list(BARS.prefix) == [] and not lake.list(folder)
    # A reader in between sees an empty manifest, then no partition: never a name of a
    # deleted file.
    bars_steps = [step for step in lake.log if step[1].startswith(BARS.prefix)]
    assert bars_steps == [("write", manifest_file), ("delete", data), ("delete", manifest_file)]


class _Recording(LocalLake):
    """Logs every write and delete, in order."""

    def __init__(self, root) -> None:  # type: ignore[no-untyped-def]
        super().__init__(root)
        self.log: list[tuple[str, str]] = []

    def write_bytes(self, relpath: str, data: bytes) -> None:
        self.log.append(("write", relpath))
        super().write_bytes(relpath, data)

    def delete(self, relpath: str) -> None:
        self.log.append(("delete", relpath))
        super().delete(relpath)


def test_cli_compact_merges_appended_files_and_waits_for_a_running_process(cli, tmp_path) -> None:
    lake = LocalLake(tmp_path / "lk")
    processor = Processor(lake)
    for seq in (101, 102, 103):  # one rejected record per batch: one quarantine file each
        processor.process([StreamRecord("shardId-000000000000", str(seq), "AAPL", b"{", T0)])
    assert len(manifest.read_partition(lake, QUARANTINE.prefix, "2026-03-02").files) == 3
    with consumer_lock(lake, "process"):
        busy = cli("compact", "--lake", str(tmp_path / "lk"))
    assert busy.code != 0
    assert "already running" in busy.err and len(busy.err.strip().splitlines()) == 1
    assert len(manifest.read_partition(lake, QUARANTINE.prefix, "2026-03-02").files) == 3
    done = cli("compact", "--lake", str(tmp_path / "lk"))
    assert done.code == 0, done.err
    assert "quarantine dt=2026-03-02: 3 files -> 1" in done.out
    assert "merged 2 files in 1 partitions" in done.out
    (merged,) = manifest.read_partition(lake, QUARANTINE.prefix, "2026-03-02").files
    assert lake.read_parquet(merged).column("sequence_number").to_pylist() == ["101", "102", "103"]
