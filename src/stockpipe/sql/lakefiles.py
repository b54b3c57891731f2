"""Which Parquet files a query reads: the processed zone's manifests, watched cheaply.

`bars`, `daily` and `quarantine` are read through their manifests (`lake/manifest.py`): a
partition that has manifests is exactly the files they name; a partition without one (a
lake written before manifests) is every `*.parquet` in it, as before. A `TableFiles` keeps
one table's answer between queries and pays one listing per query to know it still holds:

- the listing names the data files of each `dt=` folder and stats each manifest;
- a manifest is read again only when its stat changed, or when it changed so recently that
  a second replace within the same clock tick could leave its stat as it was (git's
  "racily clean" rule: `racy_ns`; S3 times have whole seconds);
- a legacy partition's files are stat-ed, because the old writer replaces
  `part-0.parquet` in place.

The data folders are listed before the manifests: a data file written after that listing
can only count through a manifest published after it, which the manifest listing then
sees, so a file is never read without the manifest that says it counts (and never twice
while a compaction swaps N files for one). What readers cannot tell apart is a date folder
whose manifest does not exist *yet* from a legacy one: a writer starting a date (or
turning a legacy partition into a manifested one) publishes its manifest first, naming no
file (or the legacy files), so that a crash leftover there never counts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Set
from dataclasses import dataclass, field

import pyarrow.fs as pafs

from stockpipe.contract import MANIFESTED_TABLES, Table
from stockpipe.lake.base import TMP_PREFIX
from stockpipe.lake.manifest import DT_RE, MANIFESTS, WRITER_RE, parse

#: Names of the tables whose partitions are published through manifests.
MANIFESTED: tuple[str, ...] = tuple(t.name for t in MANIFESTED_TABLES)

#: A file's identity: (path, size, mtime_ns, inode). A replace gives a new one; a file a
#: manifest names is immutable, so its path alone is its identity (`immutable_key`).
FileKey = tuple[str, int, int, int]


def immutable_key(path: str) -> FileKey:
    return (path, 0, 0, 0)


def _visible(name: str) -> bool:
    return not name.startswith((TMP_PREFIX, "."))


@dataclass
class Listing:
    """One look at a table's folder: `dt` -> data file paths (absolute, not stat-ed), and
    `dt` -> writer -> the manifest's key."""

    data: dict[str, list[str]] = field(default_factory=dict)
    manifests: dict[str, dict[str, FileKey]] = field(default_factory=dict)


def _dt_of(name: str) -> str | None:
    return name[3:] if name.startswith("dt=") and DT_RE.match(name[3:]) else None


def _scandir(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


def stat_key(path: str) -> FileKey | None:
    """A local file's key, None if it is gone."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (path, st.st_size, st.st_mtime_ns, st.st_ino)


def list_local(root: str, table: Table, manifested: Set[str] = frozenset()) -> Listing:
    """A local folder: one scandir per partition folder, a stat per manifest.

    The folders of the dates in `manifested` (those that had manifests last time) are not
    scanned: manifests are only ever replaced, so their files are the manifests' anyway
    (and if the manifests went, the partition is being deleted).
    """
    base = os.path.join(root, table.prefix)
    out = Listing()
    for entry in _scandir(base):
        dt = _dt_of(entry.name)
        if dt is not None and dt not in manifested and entry.is_dir():
            out.data[dt] = sorted(
                e.path
                for e in _scandir(entry.path)
                if e.name.endswith(".parquet") and _visible(e.name)
            )
    for entry in _scandir(os.path.join(base, MANIFESTS)):
        dt = _dt_of(entry.name)
        if dt is None or not entry.is_dir():
            continue
        for e in _scandir(entry.path):
            key = stat_key(e.path) if WRITER_RE.match(e.name) else None
            if key is not None:
                out.manifests.setdefault(dt, {})[e.name] = key
    return out


def list_arrow(
    filesystem: pafs.FileSystem, base: str, table: Table, manifested: Set[str] = frozenset()
) -> Listing:
    """Any pyarrow filesystem (S3): two recursive listings, the table's and then its
    manifests' (one listing would take `_manifests/` first: S3 sorts keys, `_` < `d`).
    Every folder is in the first one anyway, so `manifested` changes nothing here."""
    root = f"{base.rstrip('/')}/{table.prefix}"
    out = Listing()

    def files(path: str) -> list[tuple[str, list[str], pafs.FileInfo]]:
        selector = pafs.FileSelector(path, recursive=True, allow_not_found=True)
        return [
            (i.path, i.path[len(root) + 1 :].split("/"), i)
            for i in filesystem.get_file_info(selector)
            if i.type == pafs.FileType.File
        ]

    for path, parts, _ in files(root):
        dt = _dt_of(parts[0]) if len(parts) == 2 else None
        if dt is not None and parts[1].endswith(".parquet") and _visible(parts[1]):
            out.data.setdefault(dt, []).append(path)
    for path, parts, info in files(f"{root}/{MANIFESTS}"):
        dt = _dt_of(parts[1]) if len(parts) == 3 else None
        if dt is not None and WRITER_RE.match(parts[2]):
            key = (path, info.size or 0, info.mtime_ns or 0, 0)
            out.manifests.setdefault(dt, {})[parts[2]] = key
    return out


class TableFiles:
    """One table's files as its manifests say, re-read only when a manifest changed.

    `lister` takes one look at the table's folder (it may skip the data folders of the
    dates it is given, the ones that had manifests last time); `read` gives a manifest's bytes by the
    path the lister gave (FileNotFoundError once it is gone); `stat` a legacy data file's
    key (None once it is gone); `root` is the path the lake's relative paths hang from.
    """

    def __init__(
        self,
        table: Table,
        lister: Callable[[Set[str]], Listing],
        read: Callable[[str], bytes],
        stat: Callable[[str], FileKey | None],
        root: str,
        *,
        racy_ns: int,
        clock: Callable[[], int],
    ) -> None:
        self.table = table
        self._lister = lister
        self._read = read
        self._stat = stat
        self._root = root.rstrip("/")
        self._racy_ns = racy_ns
        self._clock = clock
        # manifest path -> (its key when read, the data files it named)
        self._manifests: dict[str, tuple[FileKey, list[str]]] = {}
        #: Whether the last answer included a partition without manifests.
        self.has_legacy = False
        self._manifested: Set[str] = frozenset()

    def forget(self) -> None:
        """List and read everything again next time (a file vanished under a query)."""
        self._manifests.clear()
        self._manifested = frozenset()

    def _named(self, dt: str, key: FileKey, listed_at: int) -> list[str]:
        cached = self._manifests.get(key[0])
        if cached is not None and cached[0] == key and key[2] < listed_at - self._racy_ns:
            return cached[1]
        try:
            text = self._read(key[0])
        except FileNotFoundError:
            # Gone since the listing (the partition expired): it still was a manifested
            # partition, whose leftover data files must not count.
            self._manifests.pop(key[0], None)
            return []
        names = [f"{self._root}/{p}" for p in parse(text, self.table.prefix, dt)]
        self._manifests[key[0]] = (key, names)
        return names

    def current(self) -> list[FileKey]:
        """The files a query reads now, sorted: manifested ones by path, legacy ones
        stat-ed (a replace in place changes their key)."""
        listed_at = self._clock()
        listing = self._lister(self._manifested)
        out: list[FileKey] = []
        legacy = False
        for dt in sorted(set(listing.data) | set(listing.manifests)):
            if dt in listing.manifests:
                named: set[str] = set()
                for key in listing.manifests[dt].values():
                    named.update(self._named(dt, key, listed_at))
                out += [immutable_key(p) for p in named]
                continue
            stats = [self._stat(path) for path in listing.data[dt]]
            out += [k for k in stats if k is not None]
            legacy = legacy or any(stats)
        live = {k[0] for dts in listing.manifests.values() for k in dts.values()}
        for path in [p for p in self._manifests if p not in live]:
            del self._manifests[path]
        self.has_legacy = legacy
        self._manifested = frozenset(listing.manifests)
        out.sort()
        return out
