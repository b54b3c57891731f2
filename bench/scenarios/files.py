"""Scenario 12, files per partition (issue #21): how many Parquet files a reader must open
per table and date, between compactions and after `stockpipe compact`.

A fresh lake is fed one session minute by minute (`batches` micro-batches of one bar per
symbol, through the engine's `Processor`, as `stockpipe process` runs them). Then each
partition's files are counted: the files its manifests name
(`stockpipe.lake.manifest.scan`), or every `*.parquet` in it when it has no manifest (a
lake written before manifests). `stockpipe compact` (the CLI) runs, and they are counted
again. Every batch writes to every table's one partition, so "at most one file per
batch per table" is: files in a partition <= batches.

    python bench/scenarios/files.py --symbols 500 --batches 30
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness
import issue21
from harness import Size

ID = "files"
TITLE = "Files per partition, between and after compactions"
SIZES = {
    "symbols": Size(500, 5, "symbols, one bar each per batch"),
    "batches": Size(30, 3, "1-minute micro-batches fed before compacting"),
}
TARGET_AFTER = issue21.FILES_AFTER_COMPACTION


def table_prefixes() -> dict[str, str]:
    """The processed zone's date-partitioned tables: name -> lake prefix."""
    from stockpipe.contract import BARS, DAILY, QUARANTINE

    return {t.name: t.prefix for t in (BARS, DAILY, QUARANTINE)}


def _parquet_per_dt(lake: Any, prefix: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in lake.list(prefix):
        parts = path[len(prefix) + 1 :].split("/")
        if len(parts) == 2 and parts[0].startswith("dt=") and parts[1].endswith(".parquet"):
            counts[parts[0][3:]] = counts.get(parts[0][3:], 0) + 1
    return dict(sorted(counts.items()))


def files_per_partition(lake: Any, prefix: str) -> dict[str, int]:
    """dt -> the data files a reader reads in that partition: those its manifests name,
    or, with no manifest, every `*.parquet` in it."""
    try:
        from stockpipe.lake import manifest
    except ImportError:  # a lake layout without manifests: the folder is the truth
        return _parquet_per_dt(lake, prefix)
    return {dt: len(part.files) for dt, part in manifest.scan(lake, prefix).items()}


def count(lake: Any) -> dict[str, dict[str, int]]:
    """table -> dt -> files, for every table that has partitions."""
    out = {name: files_per_partition(lake, prefix) for name, prefix in table_prefixes().items()}
    return {name: dts for name, dts in out.items() if dts}


def worst(counts: dict[str, dict[str, int]]) -> tuple[int, str]:
    """The largest file count of any partition, and which table and dt holds it."""
    found = [(n, f"{table} dt={dt}") for table, dts in counts.items() for dt, n in dts.items()]
    return max(found, default=(0, "no partition"))


def run(symbols: int, batches: int) -> dict[str, Any]:
    import workloads

    from scenarios.livebatch import Feed
    from stockpipe.lake.local import LocalLake

    work = harness.scratch_dir(ID)
    try:
        home = work / "home"
        lake_root = home / "lake"
        feed = Feed(lake_root, workloads.symbols(symbols))
        for minute in range(batches):
            feed.batch([minute])
        lake = LocalLake(lake_root)
        between = count(lake)
        compacted = workloads.run_command(["compact"], home, 600.0)
        after = count(lake)
    finally:
        harness.remove(work)
    most_between, where_between = worst(between)
    most_after, where_after = worst(after)
    rows = [
        {
            "table": table,
            "partitions": len(between[table]),
            f"files per partition after {batches} batches": _spread(between[table]),
            "after `stockpipe compact`": _spread(after.get(table, {})),
        }
        for table in between
    ]
    per_batch = most_between / batches
    return {
        "metrics": {"between": between, "after": after, "batches": batches},
        "targets": [
            harness.target(
                "files per partition after `stockpipe compact` (largest)",
                most_after,
                "<=",
                TARGET_AFTER,
                "files",
                f"{where_after} still has {most_after} files after compaction",
            ),
            harness.target(
                "files per partition between compactions, per batch (largest)",
                round(per_batch, 3),
                "<=",
                1,
                "files/batch",
                f"{where_between} has {most_between} files after {batches} batches",
            ),
        ],
        "rows": rows,
        "notes": [
            f"{symbols} symbols x {batches} one-minute batches of one session on a fresh lake; "
            f"`stockpipe compact` took {compacted.seconds:.1f} s ({compacted.cpu_seconds:.1f} "
            "CPU-s, start-up "
            "included)",
            "counted: the files the partition's manifests name (`stockpipe.lake.manifest.scan`), "
            "or every *.parquet in a partition without a manifest",
        ],
    }


def _spread(dts: dict[str, int]) -> str:
    """'3' when every partition holds 3 files, else 'min-max'."""
    if not dts:
        return "-"
    low, high = min(dts.values()), max(dts.values())
    return str(low) if low == high else f"{low}-{high}"


if __name__ == "__main__":
    harness.ensure_bench_on_path()
    sys.exit(harness.scenario_main("scenarios.files"))
