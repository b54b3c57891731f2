"""The series state stays in memory between batches (issue 21 item 1): a live batch reads
no partition back, a restart or a failed batch rebuilds the state from the lake, and the
lake is the same in every case."""

from __future__ import annotations

from pathlib import Path

import pytest
from processing_factories import by_minute, simulate, snapshot

from stockpipe.contract import BARS
from stockpipe.errors import LakeError
from stockpipe.lake.local import LocalLake
from stockpipe.processing.engine import Processor
from stockpipe.stream.base import StreamRecord


class _CountingLake(LocalLake):
    """Counts reads of the processed zone and its state; fails one bars write if armed."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []
        self.fail_next_bars_write = False

    def read_bytes(self, relpath: str) -> bytes:
        if relpath.startswith(("processed-data/", "quarantine/", "_state/")):
            self.reads.append(relpath)
        return super().read_bytes(relpath)

    def write_bytes(self, relpath: str, data: bytes) -> None:
        if self.fail_next_bars_write and relpath.startswith(BARS.prefix):
            self.fail_next_bars_write = False
            raise LakeError(f"injected failure writing {relpath}")
        super().write_bytes(relpath, data)


def _batches() -> list[list[StreamRecord]]:
    """Live minutes at the open, the rest of the session in one batch, then live minutes
    of the next session (the same shape as test_append's feed)."""
    _sim, records = simulate(["AAA", "BBB"], sessions=2, seed=11, fault_rate=0.03)
    minutes = by_minute(records)
    return [*minutes[:40], [r for m in minutes[40:390] for r in m], *minutes[390:420]]


@pytest.fixture(scope="module")
def batches() -> list[list[StreamRecord]]:
    return _batches()


@pytest.fixture(scope="module")
def uninterrupted(
    batches: list[list[StreamRecord]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, bytes]:
    lake = LocalLake(tmp_path_factory.mktemp("uninterrupted"))
    processor = Processor(lake)
    kept = sum(processor.process(batch).kept for batch in batches)
    one = LocalLake(tmp_path_factory.mktemp("one-shot"))
    whole = Processor(one).process([r for batch in batches for r in batch])
    assert snapshot(lake) == snapshot(one)
    assert kept == whole.kept == 2 * 420  # every (symbol, minute) once
    return snapshot(lake)


def test_a_live_minute_reads_nothing_back_after_the_first_batch(
    batches: list[list[StreamRecord]], tmp_path: Path
) -> None:
    lake = _CountingLake(tmp_path / "lake")
    processor = Processor(lake)
    for batch in batches[:41]:
        processor.process(batch)
    lake.reads.clear()
    for batch in batches[41:]:
        processor.process(batch)
    assert processor.fast_series > 0
    assert lake.reads == []
    # A new process (a restart) rebuilds its state from the lake: it reads the last
    # session's partitions and the series index.
    Processor(lake).process(batches[-1])
    assert any(p.startswith(BARS.prefix) for p in lake.reads)
    assert "_state/processing/series.json" in lake.reads


@pytest.mark.parametrize("restarts", [(20,), (40, 41), (10, 45, 60)])
def test_restarts_mid_stream_give_the_lake_of_an_uninterrupted_run(
    batches: list[list[StreamRecord]],
    uninterrupted: dict[str, bytes],
    restarts: tuple[int, ...],
    tmp_path: Path,
) -> None:
    lake = LocalLake(tmp_path / "lake")
    processor = Processor(lake)
    for i, batch in enumerate(batches):
        if i in restarts:
            processor = Processor(lake)
        processor.process(batch)
    assert snapshot(lake) == uninterrupted


@pytest.mark.parametrize("failing", [5, 40, 50])
def test_a_failed_batch_is_replayed_from_the_lake(
    batches: list[list[StreamRecord]], uninterrupted: dict[str, bytes], failing: int, tmp_path: Path
) -> None:
    lake = _CountingLake(tmp_path / "lake")
    processor = Processor(lake)
    kept = 0
    for i, batch in enumerate(batches):
        if i == failing:
            lake.fail_next_bars_write = True
            with pytest.raises(LakeError, match="injected failure"):
                processor.process(batch)
            lake.reads.clear()
        # The consumer replays the batch from its checkpoint; the processor has dropped
        # what it staged and reads the lake again, where the batch is half written.
        kept += processor.process(batch).kept
        if i == failing:
            assert any(p.startswith(BARS.prefix) for p in lake.reads)
    assert snapshot(lake) == uninterrupted
    assert kept == 2 * 420  # the replayed batch counts as the first try would have
