"""Lake write failures: disk full, read-only file system, permission denied.

Tests run as root, where chmod does not stop writes, so the faults are injected where the
operating system would raise them: `os.replace` (ENOSPC, EROFS) and `open` (EACCES). For
each: a clear LakeError (one red line on the CLI), the checkpoint not advanced, no
temporary left behind; and after the fault clears, a restarted stage leaves the lake
byte-identical to a run that never saw the fault.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

import stockpipe.lake.local as local_lake
from stockpipe import calendar
from stockpipe.errors import LakeError
from stockpipe.lake.checkpoints import checkpoint_path
from stockpipe.lake.local import LocalLake
from stockpipe.pipeline import stages
from stockpipe.sources.simulator import MarketSimulator
from stockpipe.stream.base import batched_puts
from stockpipe.stream.local import LocalStream
from stockpipe.testing.lake_content import lake_content

MAX_RECORDS = 150  # several batches, so a fault can strike after some were committed
SYMBOLS = ["AAPL", "MSFT"]


def fill_stream(path: Path) -> int:
    """One session of two symbols with simulator faults, so quarantine is written too."""
    stream = LocalStream(path, shard_count=2)
    sim = MarketSimulator(
        SYMBOLS, calendar.sessions_from(date(2026, 11, 23), 1), seed=11, fault_rate=0.05
    )
    n = 0
    for batch in sim.batches():
        for call in batched_puts(batch):
            stream.put_records(call)
            n += len(call)
    stream.close()
    return n


class Fault:
    """Fails every write into one lake after `after` successful ones, until cleared."""

    def __init__(self, root: Path, kind: str, after: int) -> None:
        self.root = root.resolve()
        self.kind = kind
        self.after = after
        self.active = True
        self.ok_writes = 0
        self.fired = 0
        self.checkpoint_at_fault: dict[str, bytes | None] = {}

    def _mine(self, path: object) -> bool:
        return self.root in Path(os.fsdecode(path)).resolve().parents  # type: ignore[arg-type]

    def strike(self) -> bool:
        if not self.active:
            return False
        if self.ok_writes < self.after:
            self.ok_writes += 1
            return False
        if not self.fired:
            for consumer in ("archive", "process"):
                cp = self.root / checkpoint_path(consumer)
                self.checkpoint_at_fault[consumer] = cp.read_bytes() if cp.exists() else None
        self.fired += 1
        return True

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_replace, real_open = os.replace, open

        def replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
            if self.kind in ("disk-full", "read-only-fs") and self._mine(dst) and self.strike():
                code = errno.ENOSPC if self.kind == "disk-full" else errno.EROFS
                raise OSError(code, os.strerror(code), os.fsdecode(dst))
            return real_replace(src, dst, *args, **kwargs)

        def fake_open(file, mode="r", *args, **kwargs):  # type: ignore[no-untyped-def]
            writing = self.kind == "permission-denied" and "w" in mode and self._mine(file)
            if writing and self.strike():
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), file)
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(os, "replace", replace)
        # LocalLake opens its temporary file with the builtin; shadow it in that module only.
        monkeypatch.setattr(local_lake, "open", fake_open, raising=False)


def lake_bytes(root: Path, prefixes: tuple[str, ...]) -> dict[str, bytes]:
    """The lake's content under `prefixes`: files byte for byte, processed partitions as
    their rows through the manifests (a replay may split them into other files)."""
    return lake_content(LocalLake(root), prefixes)


STAGES: dict[str, tuple[Callable[..., stages.StageResult], tuple[str, ...]]] = {
    "archive": (stages.run_archive, ("raw-data",)),
    "process": (stages.run_process, ("processed-data", "quarantine")),
}
MESSAGES = {
    "disk-full": "No space left on device",
    "read-only-fs": "Read-only file system",
    "permission-denied": "Permission denied",
}


def _run(stage: str, stream_path: Path, root: Path) -> stages.StageResult:
    # A fresh stream and lake object each time: a restarted process, not a retried call.
    stream = LocalStream(stream_path, shard_count=2)
    try:
        return STAGES[stage][0](stream, LocalLake(root), max_records=MAX_RECORDS)
    finally:
        stream.close()


# Where the fault strikes matters more than which errno it is: sweep that for a full disk.
CASES = [
    (stage, kind, after)
    for stage in sorted(STAGES)
    for kind, after in [
        ("disk-full", 0),
        ("disk-full", 3),
        ("disk-full", 8),
        ("read-only-fs", 3),
        ("permission-denied", 3),
    ]
]


@pytest.mark.parametrize(
    ("stage", "kind", "after"), CASES, ids=[f"{s}-{k}-after-{a}" for s, k, a in CASES]
)
def test_write_fault_keeps_checkpoint_and_restart_loses_nothing(
    fast_tmp: Path, monkeypatch: pytest.MonkeyPatch, stage: str, kind: str, after: int
) -> None:
    stream_path = fast_tmp / "stream.db"
    n = fill_stream(stream_path)
    clean_root, faulty_root = fast_tmp / "clean", fast_tmp / "faulty"
    clean = _run(stage, stream_path, clean_root)
    assert clean.records == n

    fault = Fault(faulty_root, kind, after)
    fault.install(monkeypatch)
    with pytest.raises(LakeError, match=MESSAGES[kind]) as info:
        _run(stage, stream_path, faulty_root)
    assert fault.fired >= 1
    assert str(faulty_root) in str(info.value)  # names where it could not write
    # The checkpoint is exactly what it was when the fault struck: not advanced.
    cp = faulty_root / checkpoint_path(stage)
    assert (cp.read_bytes() if cp.exists() else None) == fault.checkpoint_at_fault[stage]
    assert not [p for p in faulty_root.rglob("*") if p.name.startswith(".tmp-")]

    fault.active = False  # the disk has room again; the stage is restarted
    again = _run(stage, stream_path, faulty_root)
    assert again.records > 0
    prefixes = STAGES[stage][1]
    assert lake_bytes(faulty_root, prefixes) == lake_bytes(clean_root, prefixes)
    if stage == "process":
        assert again.extra == clean.extra  # the totals count every record exactly once
        assert again.extra["read"] == n


def test_cli_process_on_a_full_disk_prints_one_line_then_recovers(
    cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest = cli("ingest", "--source", "simulator", "--days", "1", "--start", "2026-11-23")
    assert ingest.code == 0, ingest.err
    fault = Fault(home / "lake", "disk-full", after=2)
    fault.install(monkeypatch)
    failed = cli("process")
    assert failed.code == 1
    lines = [line for line in failed.err.splitlines() if line.strip()]
    assert len(lines) == 1, failed.err
    assert lines[0].startswith("error: cannot write ") and "No space left on device" in lines[0]
    assert "Traceback" not in failed.err
    fault.active = False
    ok = cli("process")
    assert ok.code == 0, ok.err
    status = cli("status", "--json")
    import json

    doc = json.loads(status.out)
    state = doc["consumers"]["process"]["state"]
    assert doc["consumers"]["process"]["pending"] == 0
    assert state["read"] == 8 * 390  # the default eight symbols, one session, each once
    assert state["read"] == state["kept"] + state["duplicates"] + state["quarantined"]
