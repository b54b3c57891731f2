"""Lake upkeep: `compact` merges small files, `expire` applies retention by partition date.

Compaction of the processed zone merges the data files a partition's manifest names
(a live day gets one per batch) into one file sorted by the table's key, then publishes
the manifest naming only it (lake/manifest.py): readers see the old files or the new
one, never both. A partition written before manifests with several files is merged the
same way (deduplicated on the table key, as it is read). Files no manifest names are
deleted once no reader can still be reading them (`PartitionSet.delete_unreferenced`):
those this run supersedes go at a later `compact` or writer start. The raw zone's hourly
files are merged too: the archiver writes one small file per batch.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from stockpipe.contract import BARS, DAILY, QUARANTINE, RAW
from stockpipe.errors import ConfigError
from stockpipe.lake.base import Lake, safe_relpath
from stockpipe.lake.manifest import MANIFESTS
from stockpipe.lake.partitions import PartitionSet
from stockpipe.stream.base import seq_key

# The archiver may still append to the current hour: compact raw hours once closed.
RAW_GRACE = timedelta(hours=1)


@dataclass
class CompactReport:
    partitions: int = 0  # partitions rewritten
    files_merged: int = 0  # files folded into another (deleted after the grace period)
    files_deleted: int = 0  # files no manifest named any more, past the grace period
    details: list[str] = field(default_factory=list)


@dataclass
class ExpireReport:
    cutoffs: dict[str, str] = field(default_factory=dict)  # prefix -> oldest dt kept
    deleted: dict[str, int] = field(default_factory=dict)  # prefix -> files deleted


def compact(
    lake: Lake,
    tables: Mapping[str, PartitionSet],
    now: datetime | None = None,
    *,
    dry_run: bool = False,
) -> CompactReport:
    """Merge the files of every partition of `tables` with more than one, delete the
    files no manifest names past the grace period, and merge every closed raw hour.

    `tables` are the processed zone's partition sets with their sort and dedupe rules
    (`processing.zone.processed_partitions(lake)`): the rules belong to processing, so
    the caller hands them in and the lake never imports the engine. The caller makes
    sure no `process` writes meanwhile (cli/maintenance.py takes its lock).
    """
    report = CompactReport()
    for name, parts in tables.items():
        for dt, files in sorted(parts.files.items()):
            if len(files) < 2:
                continue
            report.partitions += 1
            report.files_merged += len(files) - 1
            report.details.append(f"{name} dt={dt}: {len(files)} files -> 1")
            if not dry_run:
                parts.compact(dt)
        if not dry_run:
            parts.flush()
            deleted = parts.delete_unreferenced(any_writer=True)
            report.files_deleted += len(deleted)
            if deleted:
                report.details.append(f"{name}: deleted {len(deleted)} unreferenced files")
    _compact_raw(lake, now or datetime.now(UTC), report, dry_run=dry_run)
    return report


def _raw_file_key(path: str) -> tuple[str, int] | None:
    """(shard, first sequence number) from `.../<shard>-<first seq>.jsonl`."""
    name = path.rsplit("/", 1)[-1]
    if not name.endswith(".jsonl") or "-" not in name:
        return None
    shard, _, seq = name[: -len(".jsonl")].rpartition("-")
    return (shard, seq_key(seq)) if seq.isdigit() and shard else None


def _compact_raw(lake: Lake, now: datetime, report: CompactReport, *, dry_run: bool) -> None:
    groups: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for path in lake.list(RAW.prefix):
        key = _raw_file_key(path)
        parts = path.split("/")
        if key is None or len(parts) != 4:
            continue
        try:
            hour_start = datetime.strptime(f"{parts[1][3:]} {parts[2][5:]}", "%Y-%m-%d %H").replace(
                tzinfo=UTC
            )
        except ValueError:
            continue
        if hour_start + timedelta(hours=1) + RAW_GRACE > now:
            continue
        groups[(path.rsplit("/", 1)[0], key[0])].append((key[1], path))
    for (folder, shard), files in sorted(groups.items()):
        if len(files) < 2:
            continue
        files.sort()
        report.partitions += 1
        report.files_merged += len(files) - 1
        report.details.append(f"raw {folder} {shard}: {len(files)} files -> 1")
        if dry_run:
            continue
        lines: dict[int, bytes] = {}
        for _, path in files:
            for line in lake.read_bytes(path).splitlines():
                if line.strip():
                    seq = seq_key(str(json.loads(line)["sequence_number"]))
                    lines.setdefault(seq, line)
        body = b"".join(lines[s] + b"\n" for s in sorted(lines))
        # The merged file keeps the first file's name: <shard>-<first seq>.jsonl.
        lake.write_bytes(files[0][1], body)
        for _, path in files[1:]:
            lake.delete(path)


def files_per_date(lake: Lake, prefix: str) -> dict[str, int]:
    """How many files each dt= partition under `prefix` holds, by date (a read-only listing)."""
    dates: dict[str, int] = {}
    for path in lake.list(prefix):
        seg = path[len(prefix) + 1 :].split("/", 1)[0]
        if seg.startswith("dt="):
            dates[seg[3:]] = dates.get(seg[3:], 0) + 1
    return dates


def expire(
    lake: Lake,
    raw_days: int | None = None,
    processed_days: int | None = None,
    quarantine_days: int | None = None,
    today: date | None = None,
    *,
    dry_run: bool = False,
) -> ExpireReport:
    """Delete partitions older than the retention, like the S3 lifecycle rules.

    S3 expires an object at the first midnight UTC at least N days after its creation,
    so on day D it has removed everything created before D - N. Here the partition date
    stands in for the creation date: a partition dt is deleted when dt < today - N.
    """
    today = today or datetime.now(UTC).date()
    rules: list[tuple[tuple[str, ...], int | None, str]] = [
        ((RAW.prefix,), raw_days, "--raw-days"),
        ((BARS.prefix, DAILY.prefix), processed_days, "--processed-days"),
        ((QUARANTINE.prefix,), quarantine_days, "--quarantine-days"),
    ]
    report = ExpireReport()
    for prefixes, days, option in rules:
        if days is None:
            continue
        if days < 1:
            raise ConfigError(f"{option} {days} must be at least 1 day")
        cutoff = (today - timedelta(days=days)).isoformat()
        for prefix in prefixes:
            report.cutoffs[prefix] = cutoff
            doomed = [p for p in lake.list(prefix) if _partition_date(prefix, p) < cutoff]
            report.deleted[prefix] = len(doomed)
            if not dry_run:
                _delete_partitions(lake, prefix, doomed)
    return report


def _partition_date(prefix: str, path: str) -> str:
    """The dt of a file of a `prefix/dt=D/...` partition or of its manifests
    (`prefix/_manifests/dt=D/...`); "~" (after every date) for anything else."""
    segs = path[len(prefix) + 1 :].split("/")
    seg = segs[1] if segs[0] == MANIFESTS and len(segs) > 1 else segs[0]
    return seg[3:] if seg.startswith("dt=") else "~"


def _delete_partitions(lake: Lake, prefix: str, paths: list[str]) -> None:
    # Manifests are emptied first and deleted last: a reader sees the partition empty,
    # never a manifest naming a deleted file, nor the superseded files as legacy ones.
    manifests = [p for p in paths if p.startswith(f"{prefix}/{MANIFESTS}/")]
    for path in manifests:
        lake.write_bytes(safe_relpath(path), b"")
    for path in paths:
        if path not in manifests:
            lake.delete(safe_relpath(path))
    for path in manifests:
        lake.delete(safe_relpath(path))
