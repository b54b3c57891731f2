"""Helpers of the reliability tests: a sandbox whose lake sits deep inside a folder we
watch, good and hostile payloads, and readers of the lake that do not use the code
under test's own readers."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from stockpipe.lake.checkpoints import checkpoint_path
from stockpipe.lake.local import LocalLake
from stockpipe.lake.raw import iter_raw
from stockpipe.stream.local import LocalStream

# A restatement of the ticker rule, so a "bad symbol" is decided without the contract.
TICKER = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,11}")

TRAVERSAL_SYMBOLS = (
    "../../etc",
    "A/B",
    "..",
    "/etc/passwd",
    "..\\..\\windows",
    "dt=2026-01-01/../../x",
    "A\x00B",
    "~root",
)
SQL_SYMBOLS = (
    "x'; DROP TABLE bars; --",
    "A' OR '1'='1",
    'A"; DELETE FROM daily; --',
    "AAPL'--",
    "1; ATTACH '/tmp/x.db' AS x",
)
UNICODE_SYMBOLS = ("ÄPPLE", "АAPL", "AAPL\u200b", "A\tB", "A\nB", "\u202eLPAA", "😀", "aapl")

# Every file the lake may hold, by its layout (tmp files are never left behind).
LAKE_LAYOUT = re.compile(
    r"^(raw-data/dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/shardId-\d{12}-\d{20}\.jsonl"
    r"|(processed-data/(bars|daily)|quarantine)/dt=\d{4}-\d{2}-\d{2}/w\d{1,3}-\d{8}\.parquet"
    r"|(processed-data/(bars|daily)|quarantine)/_manifests/dt=\d{4}-\d{2}-\d{2}/w\d{1,3}"
    r"|processed-data/latest/part-0\.parquet"
    r"|_checkpoints/(archive|process)/(checkpoint\.json|lock)"
    r"|_state/processing/(series|contract)\.json)$"
)

BASE_TS = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # a Monday, 09:30 New York


def good_bar(symbol: str = "AAPL", minute: int = 0, price: float = 100.0) -> dict[str, object]:
    """A valid canonical record; high/low bracket open/close by construction."""
    ts = BASE_TS + timedelta(minutes=minute)
    return {
        "schema_version": 1,
        "symbol": symbol,
        "interval": "1min",
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "open": price,
        "high": price + 1.0,
        "low": price - 1.0,
        "close": price + 0.5,
        "volume": 1000 + minute,
        "source": "simulator",
    }


def dumps(doc: object) -> bytes:
    # allow_nan: json.dumps writes NaN/Infinity literals, which hostile producers send too.
    return json.dumps(doc, allow_nan=True).encode("utf-8")


@dataclass
class Sandbox:
    """tmp/outer/a/b/lake and tmp/outer/stream: `../../..` from the lake stays watched."""

    outer: Path
    lake_root: Path
    stream_path: Path

    @classmethod
    def create(cls, base: Path) -> Sandbox:
        outer = base / "outer"
        lake_root = outer / "a" / "b" / "lake"
        lake_root.mkdir(parents=True)
        return cls(outer, lake_root, outer / "stream" / "stream.db")

    def lake(self) -> LocalLake:
        return LocalLake(self.lake_root)

    def stream(self, shards: int = 2) -> LocalStream:
        return LocalStream(self.stream_path, shard_count=shards)

    def outside_files(self) -> set[str]:
        """Every path under `outer` except the lake root's contents and SQLite's files."""
        out = set()
        for path in self.outer.rglob("*"):
            if self.lake_root in path.parents or path == self.lake_root:
                continue
            if path.parent == self.stream_path.parent and path.name.startswith("stream.db"):
                continue  # the stream database and its -wal/-shm companions
            out.add(path.relative_to(self.outer).as_posix())
        return out

    def lake_files(self) -> list[str]:
        return sorted(
            p.relative_to(self.lake_root).as_posix()
            for p in self.lake_root.rglob("*")
            if p.is_file()
        )

    def rows(self, prefix: str) -> list[dict[str, object]]:
        """Every row of a processed table: in each dt= folder the files its manifests
        (`<prefix>/_manifests/dt=.../<writer>`, one location per line) name, or every
        Parquet file where there is none."""
        out: list[dict[str, object]] = []
        for folder in sorted((self.lake_root / prefix).glob("dt=*")):
            manifests = sorted((self.lake_root / prefix / "_manifests" / folder.name).glob("w*"))
            names = {line.rsplit("/", 1)[-1] for m in manifests for line in m.read_text().split()}
            files = [folder / n for n in sorted(names)] if manifests else folder.glob("*.parquet")
            for f in sorted(files):
                out.extend(pq.read_table(f).to_pylist())
        return out

    def checkpoint(self, consumer: str) -> dict[str, object]:
        path = self.lake_root / checkpoint_path(consumer)
        return json.loads(path.read_text()) if path.exists() else {}

    def raw_count(self) -> int:
        return sum(1 for _ in iter_raw(self.lake()))


def scratch_dir(fallback: Path) -> Path:
    """Where fuzz examples make their sandboxes: tmpfs when there is one, because every
    example makes a fresh lake and a disk's fsync and rmdir dominate otherwise."""
    shm = Path("/dev/shm")  # noqa: S108 - a private TemporaryDirectory is made inside
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return fallback
