"""Which Parquet files make up a partition of the processed zone: its manifests.

A partition (`<prefix>/dt=<date>/`) holds immutable data files. Which of them count is
said by the partition's manifests, one per writer:

    <prefix>/dt=2024-01-02/w0-00000007.parquet     data files, never rewritten in place
    <prefix>/_manifests/dt=2024-01-02/w0           one line per file that counts

A writer changes a partition by writing new data files first and then replacing its
manifest: one atomic object write (a rename locally, one PUT on S3), so a reader that
goes through the manifests sees all of a batch's rows in that partition or none of them,
and never a row twice while a compaction swaps N files for one. Files a manifest no
longer names are deleted later (readers that listed them a moment ago may still be
reading them).

A manifest's lines are the files' absolute locations (`Lake.uri`), which is the format
Athena and Hive read through `SymlinkTextInputFormat`: the Athena tables point at
`<prefix>/_manifests/`. stockpipe's own readers take only the file name from each line
and resolve it inside the partition, so a lake folder can move and a manifest can never
point outside its partition.

A partition without a manifest is a lake written before manifests (or by a writer that
does not publish them): every `*.parquet` in it counts, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from stockpipe.errors import LakeError
from stockpipe.lake.base import TMP_PREFIX, Lake, safe_relpath

MANIFESTS = "_manifests"
DT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WRITER_RE = re.compile(r"^w[0-9]{1,3}$")
_DATA_RE = re.compile(r"^(w[0-9]{1,3})-([0-9]{8})\.parquet$")

#: The writer name of a single `stockpipe process` (workers are w0, w1, ...).
DEFAULT_WRITER = "w0"


def check_dt(dt: str) -> str:
    if not DT_RE.match(dt):
        raise LakeError(f"partition date {dt!r} is not YYYY-MM-DD")
    return dt


def check_writer(writer: str) -> str:
    if not WRITER_RE.match(writer):
        raise LakeError(f"writer name {writer!r} is not w0, w1, ...")
    return writer


def partition_dir(prefix: str, dt: str) -> str:
    return safe_relpath(f"{prefix}/dt={check_dt(dt)}")


def manifest_dir(prefix: str, dt: str) -> str:
    return safe_relpath(f"{prefix}/{MANIFESTS}/dt={check_dt(dt)}")


def manifest_path(prefix: str, dt: str, writer: str) -> str:
    return f"{manifest_dir(prefix, dt)}/{check_writer(writer)}"


def data_file(prefix: str, dt: str, writer: str, number: int) -> str:
    """The `number`-th data file `writer` writes in partition `dt`."""
    if not 0 <= number < 10**8:
        raise LakeError(f"data file number {number} out of range")
    return f"{partition_dir(prefix, dt)}/{check_writer(writer)}-{number:08d}.parquet"


def data_number(path: str, writer: str) -> int | None:
    """The number of a data file `writer` wrote, None for anyone else's file."""
    match = _DATA_RE.match(path.rsplit("/", 1)[-1])
    if match is None or match.group(1) != writer:
        return None
    return int(match.group(2))


@dataclass
class Partition:
    """One dt of a table: the files that count, and everything else found in it."""

    dt: str
    #: writer -> the data files its manifest names (empty for a legacy partition)
    manifests: dict[str, list[str]] = field(default_factory=dict)
    #: every `*.parquet` in the partition folder, counted or not
    stored: list[str] = field(default_factory=list)

    @property
    def manifested(self) -> bool:
        return bool(self.manifests)

    @property
    def files(self) -> list[str]:
        """The data files a reader reads: the manifests' union (sorted), or, for a
        partition without a manifest, every Parquet file in it."""
        if not self.manifests:
            return list(self.stored)
        return sorted({f for files in self.manifests.values() for f in files})

    def unreferenced(self) -> list[str]:
        """Stored files no manifest names (superseded, or left by a crash before the
        manifest that would have named them). Empty for a legacy partition."""
        if not self.manifests:
            return []
        named = set(self.files)
        return [f for f in self.stored if f not in named]


def render(lake: Lake, files: Sequence[str]) -> bytes:
    """A manifest's bytes: each file's absolute location on its own line, sorted."""
    # One `uri` per folder, not per file: a local lake resolves the path on each call.
    folders: dict[str, str] = {}
    lines = []
    for f in sorted(files):
        folder, _, name = f.rpartition("/")
        if folder not in folders:
            folders[folder] = lake.uri(folder)
        lines.append(f"{folders[folder]}/{name}\n")
    return "".join(lines).encode()


def parse(text: bytes, prefix: str, dt: str) -> list[str]:
    """The lake paths a manifest names, each resolved inside its own partition."""
    folder = partition_dir(prefix, dt)
    out = []
    for line in text.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        name = line.rsplit("/", 1)[-1]
        if not name.endswith(".parquet") or name.startswith((TMP_PREFIX, ".")):
            raise LakeError(f"manifest of {folder} names {line!r}, not a Parquet data file")
        out.append(safe_relpath(f"{folder}/{name}"))
    return sorted(set(out))


def publish(lake: Lake, prefix: str, dt: str, writer: str, files: Iterable[str]) -> None:
    """Make `files` (already written) the ones `writer` contributes to partition `dt`."""
    folder = partition_dir(prefix, dt) + "/"
    chosen = sorted(set(files))
    for f in chosen:
        if not f.startswith(folder) or "/" in f[len(folder) :]:
            raise LakeError(f"{f!r} is not a data file of {folder}")
    lake.write_bytes(manifest_path(prefix, dt, writer), render(lake, chosen))


def scan(lake: Lake, prefix: str) -> dict[str, Partition]:
    """Every partition of the table under `prefix`: one listing, then each manifest."""
    out: dict[str, Partition] = {}
    depth = prefix.count("/") + 1
    manifest_files: list[tuple[str, str, str]] = []
    for path in lake.list(prefix):
        parts = path.split("/")
        if len(parts) == depth + 2 and path.endswith(".parquet"):
            seg = parts[depth]
            if seg.startswith("dt=") and DT_RE.match(seg[3:]):
                out.setdefault(seg[3:], Partition(seg[3:])).stored.append(path)
        elif len(parts) == depth + 3 and parts[depth] == MANIFESTS:
            seg, writer = parts[depth + 1], parts[depth + 2]
            if seg.startswith("dt=") and DT_RE.match(seg[3:]) and WRITER_RE.match(writer):
                manifest_files.append((seg[3:], writer, path))
    for dt, writer, path in manifest_files:
        try:
            text = lake.read_bytes(path)
        except FileNotFoundError:
            continue  # removed since the listing (a partition expired)
        out.setdefault(dt, Partition(dt)).manifests[writer] = parse(text, prefix, dt)
    return dict(sorted(out.items()))


def read_partition(lake: Lake, prefix: str, dt: str) -> Partition:
    """One partition, as `scan` would give it."""
    found = Partition(dt)
    folder = partition_dir(prefix, dt) + "/"
    for path in lake.list(partition_dir(prefix, dt)):
        if path.endswith(".parquet") and "/" not in path[len(folder) :]:
            found.stored.append(path)
    for path in lake.list(manifest_dir(prefix, dt)):
        writer = path.rsplit("/", 1)[-1]
        if WRITER_RE.match(writer):
            try:
                found.manifests[writer] = parse(lake.read_bytes(path), prefix, dt)
            except FileNotFoundError:
                continue
    return found


def data_writer(path: str) -> str | None:
    """The writer of a data file (`w0` of `w0-00000007.parquet`), None for other names."""
    match = _DATA_RE.match(path.rsplit("/", 1)[-1])
    return None if match is None else match.group(1)


def next_number(paths: Iterable[str], writer: str) -> int:
    """The number of `writer`'s next data file among `paths` (one partition's listing):
    one past the highest it ever wrote there, so a published file's name is never reused
    (an unpublished orphan's may be, which overwrites it)."""
    numbers = [n for n in (data_number(p, writer) for p in paths) if n is not None]
    return max(numbers, default=0) + 1


def modified(lake: Lake, path: str) -> float | None:
    """When the object was last written (seconds since the epoch), None when the lake
    cannot say (a `MemoryLake`) or the object is gone."""
    try:
        fs, base = lake.arrow_filesystem()
        info = fs.get_file_info(f"{base}/{path}")  # type: ignore[attr-defined]
    except (LakeError, OSError):
        return None
    mtime = getattr(info, "mtime", None)
    return None if mtime is None else float(mtime.timestamp())


def live_files(lake: Lake, prefix: str) -> dict[str, list[str]]:
    """dt -> the data files a reader reads, for every partition of the table."""
    return {dt: part.files for dt, part in scan(lake, prefix).items() if part.files}


def has_files(lake: Lake, prefix: str) -> bool:
    """Whether a reader of the table reads any file: one listing for the dates, then
    the partitions newest first until one has a file (usually the first)."""
    dts = {
        seg[3:]
        for path in lake.list(prefix)
        for seg in path[len(prefix) + 1 :].split("/")[:2]
        if seg.startswith("dt=") and DT_RE.match(seg[3:])
    }
    return any(read_partition(lake, prefix, dt).files for dt in sorted(dts, reverse=True))
