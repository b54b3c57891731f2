"""Append, then compact (issue 21 item 2): a live batch adds one data file per table and
dt through the manifest, compaction merges them, readers never see half a batch, and the
tables equal a one-shot run's whatever the files."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from processing_factories import by_minute, simulate, snapshot

from stockpipe.contract import BARS
from stockpipe.errors import LakeError
from stockpipe.lake import manifest, partitions
from stockpipe.lake.local import LocalLake
from stockpipe.processing import engine
from stockpipe.processing.engine import Processor
from stockpipe.processing.zone import ProcessedZone
from stockpipe.stream.base import StreamRecord

DT = "2026-03-02"
SYMBOLS = ["AAA", "BBB", "CCC"]
# Every batch is an append, the first bars of a series and its young minutes (no state
# to resume yet) included: each batch adds one file to the day.
SEEDED = 40


@pytest.fixture(scope="module")
def minutes() -> list[list[StreamRecord]]:
    _sim, records = simulate(SYMBOLS, sessions=1, seed=21)
    return by_minute(records)[:70]


@pytest.fixture(scope="module")
def one_shot(minutes: list[list[StreamRecord]], tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    lake = LocalLake(tmp_path_factory.mktemp("one-shot"))
    Processor(lake).process([r for m in minutes for r in m])
    return lake


def _fed(lake: LocalLake, batches: list[list[StreamRecord]]) -> Processor:
    """A processor that has processed `batches` into `lake`, one by one."""
    processor = Processor(lake)
    for batch in batches:
        processor.process(batch)
    return processor


def _bars_files(lake: LocalLake) -> list[str]:
    return manifest.read_partition(lake, BARS.prefix, DT).files


def _number(path: str) -> int:
    number = manifest.data_number(path, "w0")
    assert number is not None, path
    return number


def _keys(lake: LocalLake) -> list[tuple[str, pd.Timestamp]]:
    """The bars keys a reader sees: the manifest's files, read one by one."""
    keys = []
    for path in _bars_files(lake):
        frame = lake.read_parquet(path).select(["symbol", "ts"]).to_pandas()
        keys += list(zip(frame["symbol"], frame["ts"], strict=True))
    return keys


def test_each_live_batch_appends_one_file_and_compaction_merges_them(
    minutes: list[list[StreamRecord]], one_shot: LocalLake, tmp_path: Path, monkeypatch
) -> None:
    lake = LocalLake(tmp_path / "live")
    processor = _fed(lake, minutes[:SEEDED])
    before = _bars_files(lake)
    assert len(before) == SEEDED
    for batch in minutes[SEEDED:]:
        processor.process(batch)
        files = _bars_files(lake)
        # The files named before stay named, untouched; one new file holds the batch.
        assert files[:-1] == before and len(files) == len(before) + 1
        assert lake.read_parquet(files[-1]).num_rows == len(SYMBOLS)
        before = files
    assert processor.general_series == 0
    assert processor.fast_series == len(SYMBOLS) * len(minutes)
    assert len(before) == len(minutes)
    # The next batch compacts what the processor holds: one file, byte for byte the
    # one-shot run's (same rows, sorted by key), and the same tables.
    monkeypatch.setattr(engine, "COMPACT_EVERY_S", 0.0)
    processor.process([])
    (merged,) = _bars_files(lake)
    (single,) = _bars_files(one_shot)
    assert lake.read_bytes(merged) == one_shot.read_bytes(single)
    assert snapshot(lake) == snapshot(one_shot)


def test_a_late_bar_after_compaction_equals_one_shot(
    minutes: list[list[StreamRecord]], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(engine, "COMPACT_EVERY_S", 0.0)  # compact after every batch
    lake = LocalLake(tmp_path / "live")
    processor = _fed(lake, minutes[:50])
    assert len(_bars_files(lake)) == 1
    target = next(r for r in minutes[45] if r.partition_key == "BBB")
    doc = json.loads(target.data)
    doc["close"] = doc["high"]
    last = minutes[49][-1]
    late = StreamRecord(last.shard_id, "999999", "BBB", json.dumps(doc).encode(), last.arrival_ts)
    stats = processor.process([late])
    assert (stats.kept, stats.duplicates) == (0, 1)
    one = LocalLake(tmp_path / "one")
    Processor(one).process([*(r for m in minutes[:50] for r in m), late])
    assert snapshot(lake) == snapshot(one)
    bars = lake.read_parquet(_bars_files(lake)[0]).to_pandas()
    row = bars[(bars["symbol"] == "BBB") & (bars["ts"] == pd.Timestamp(doc["ts"]))]
    assert row["close"].tolist() == [doc["high"]]


def test_kept_frames_are_what_a_fresh_read_gives(
    minutes: list[list[StreamRecord]], tmp_path: Path, monkeypatch
) -> None:
    lake = LocalLake(tmp_path / "live")
    processor = Processor(lake)
    for i, batch in enumerate(minutes[: SEEDED + 6]):
        if i == SEEDED + 3:
            monkeypatch.setattr(engine, "COMPACT_EVERY_S", 0.0)  # one compaction, then appends
        elif i == SEEDED + 4:
            monkeypatch.setattr(engine, "COMPACT_EVERY_S", 3600.0)
        processor.process(batch)
        if i < SEEDED - 2:
            continue
        held = processor._zone
        assert held is not None
        fresh = ProcessedZone(lake)
        for name in ("bars", "daily", "quarantine"):
            kept, read = getattr(held, name), getattr(fresh, name)
            for dt, frame in kept.loaded().items():
                pd.testing.assert_frame_equal(frame, read.get(dt), obj=f"{name} {dt}")
    assert len(_bars_files(lake)) == 3  # compacted after SEEDED + 3, then two appends


def test_a_restart_mid_feed_gives_the_rows_of_an_uninterrupted_run(
    minutes: list[list[StreamRecord]], one_shot: LocalLake, tmp_path: Path
) -> None:
    lake = LocalLake(tmp_path / "live")
    processor = Processor(lake)
    for i, batch in enumerate(minutes):
        if i in (SEEDED + 5, SEEDED + 6, SEEDED + 20):
            processor = Processor(lake)  # a new process: state rebuilt from the manifests
        processor.process(batch)
    assert snapshot(lake) == snapshot(one_shot)


class _WatchedLake(LocalLake):
    """Runs `check` after every write, as a reader polling the lake between any two
    steps of the writer would."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.check = lambda: None

    def write_bytes(self, relpath: str, data: bytes) -> None:
        super().write_bytes(relpath, data)
        self.check()


def test_a_reader_sees_whole_batches_after_every_write(
    minutes: list[list[StreamRecord]], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(engine, "COMPACT_EVERY_S", 0.0)  # a compaction after every batch
    lake = _WatchedLake(tmp_path / "live")
    processor = Processor(lake)
    feed = minutes[SEEDED - 10 : SEEDED + 10]
    for batch in minutes[: SEEDED - 10]:
        processor.process(batch)
    done = [len(_keys(lake))]
    seen: list[int] = []

    def check() -> None:
        keys = _keys(lake)
        assert len(set(keys)) == len(keys), "a key read twice"
        assert len(keys) in done[-2:], f"{len(keys)} bars: not a whole number of batches"
        seen.append(len(keys))

    lake.check = check
    for batch in feed:
        done.append(done[-1] + len(batch))
        processor.process(batch)
        assert len(_keys(lake)) == done[-1]
    # Every batch was seen absent and then whole, and compactions ran throughout.
    assert set(seen) == set(done)
    assert len(_bars_files(lake)) == 1


def test_a_concurrent_reader_never_sees_a_partial_batch(
    minutes: list[list[StreamRecord]], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(engine, "COMPACT_EVERY_S", 0.0)
    lake = LocalLake(tmp_path / "live")
    processor = _fed(lake, minutes[:SEEDED])
    whole = {len(_keys(lake))}
    for batch in minutes[SEEDED:]:
        whole.add(max(whole) + len(batch))
    stop = threading.Event()
    reads: list[list[tuple[str, pd.Timestamp]]] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                reads.append(_keys(lake))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for batch in minutes[SEEDED:]:
            processor.process(batch)
            time.sleep(0.005)  # let the reader in between batches too
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert len(reads) > 10
    for keys in reads:
        assert len(set(keys)) == len(keys)
        assert len(keys) in whole


class _FailingManifestLake(LocalLake):
    """Fails the next bars manifest write once armed: the process dies between a data file
    and the manifest that would have named it."""

    armed = False

    def write_bytes(self, relpath: str, data: bytes) -> None:
        if self.armed and relpath.startswith(f"{BARS.prefix}/{manifest.MANIFESTS}/"):
            self.armed = False
            raise LakeError(f"injected failure writing {relpath}")
        super().write_bytes(relpath, data)


def test_a_crash_between_data_file_and_manifest_is_replayed_and_its_orphan_cleaned(
    minutes: list[list[StreamRecord]], one_shot: LocalLake, tmp_path: Path, monkeypatch
) -> None:
    lake = _FailingManifestLake(tmp_path / "live")
    processor = _fed(lake, minutes[: SEEDED + 5])
    named = _bars_files(lake)
    lake.armed = True
    with pytest.raises(LakeError, match="injected failure"):
        processor.process(minutes[SEEDED + 5])
    part = manifest.read_partition(lake, BARS.prefix, DT)
    assert part.files == named  # readers see nothing of the failed batch
    top = max(_number(p) for p in named)
    (orphan,) = [p for p in part.unreferenced() if _number(p) > top]
    # A restart replays the batch from the checkpoint: the fresh orphan is kept (it may
    # be a file being written), the batch takes the next number.
    processor = Processor(lake)
    for batch in minutes[SEEDED + 5 :]:
        processor.process(batch)
    assert snapshot(lake) == snapshot(one_shot)
    assert orphan in manifest.read_partition(lake, BARS.prefix, DT).unreferenced()
    assert _number(orphan) not in [_number(f) for f in _bars_files(lake)]
    # Past the grace period the next start deletes it, and only it.
    monkeypatch.setattr(partitions, "SUPERSEDED_GRACE_S", 0.0)
    Processor(lake).process([])
    assert not lake.exists(orphan)
    assert manifest.read_partition(lake, BARS.prefix, DT).unreferenced() == []
    assert snapshot(lake) == snapshot(one_shot)


def test_superseded_files_are_deleted_only_after_the_grace_period(
    minutes: list[list[StreamRecord]], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(partitions, "SUPERSEDED_GRACE_S", 3600.0)
    lake = LocalLake(tmp_path / "live")
    processor = _fed(lake, minutes[: SEEDED + 3])
    appended = _bars_files(lake)
    assert len(appended) == SEEDED + 3
    monkeypatch.setattr(engine, "COMPACT_EVERY_S", 0.0)
    processor.process(minutes[SEEDED + 3])
    monkeypatch.setattr(engine, "COMPACT_EVERY_S", 3600.0)
    (merged,) = _bars_files(lake)
    # Superseded, but a reader may have read the old manifest a moment ago: kept.
    assert all(lake.exists(p) for p in appended)
    processor.process(minutes[SEEDED + 4])
    assert all(lake.exists(p) for p in appended)
    # Once the grace period is over, the next flush deletes them.
    monkeypatch.setattr(partitions, "SUPERSEDED_GRACE_S", 0.0)
    processor.process(minutes[SEEDED + 5])
    assert not any(lake.exists(p) for p in appended)
    assert lake.exists(merged)


def test_start_up_deletes_only_own_unpublished_or_settled_files(
    minutes: list[list[StreamRecord]], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(partitions, "SUPERSEDED_GRACE_S", 60.0)
    lake = LocalLake(tmp_path / "live")
    _fed(lake, minutes[: SEEDED + 2])
    old = time.time() - 7200
    named = _bars_files(lake)
    top = max(manifest.data_number(p, "w0") or 0 for p in named)
    # An old superseded file of this writer (numbered below the manifest's newest), an
    # old orphan (above it), a fresh orphan, and an old file of another writer.
    superseded = manifest.data_file(BARS.prefix, DT, "w0", 0)
    old_orphan = manifest.data_file(BARS.prefix, DT, "w0", top + 1)
    new_orphan = manifest.data_file(BARS.prefix, DT, "w0", top + 2)
    foreign = manifest.data_file(BARS.prefix, DT, "w1", 9)
    table = lake.read_parquet(named[0])
    for path in (superseded, old_orphan, new_orphan, foreign):
        lake.write_parquet(path, table)
    for path in (superseded, old_orphan, foreign):
        os.utime(lake.uri(path), (old, old))
    # The manifest was written a moment ago: a reader may still read what it dropped.
    added = {superseded, old_orphan, new_orphan, foreign}
    Processor(lake).process([])
    assert {p for p in added if lake.exists(p)} == {superseded, new_orphan, foreign}
    # Once the manifest itself is older than the grace period, the superseded file goes.
    manifest_file = manifest.manifest_path(BARS.prefix, DT, "w0")
    os.utime(lake.uri(manifest_file), (old, old))
    Processor(lake).process([])
    assert {p for p in added if lake.exists(p)} == {new_orphan, foreign}
    assert _bars_files(lake) == named


def test_an_idle_stream_compacts_between_batches(
    minutes: list[list[StreamRecord]], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(engine, "COMPACT_EVERY_S", 3600.0)
    lake = LocalLake(tmp_path / "live")
    processor = _fed(lake, minutes[:5])
    processor.idle()  # not due: nothing changes
    assert len(_bars_files(lake)) == 5
    before = snapshot(lake)
    monkeypatch.setattr(engine, "COMPACT_EVERY_S", 0.0)
    processor.idle()  # due: the held partitions become one file each, same rows
    assert len(_bars_files(lake)) == 1
    assert snapshot(lake) == before
    monkeypatch.setattr(engine, "COMPACT_EVERY_S", 3600.0)
    processor.process(minutes[5])  # the next batch appends to the compacted day
    assert len(_bars_files(lake)) == 2
    one = LocalLake(tmp_path / "one")
    Processor(one).process([r for m in minutes[:6] for r in m])
    assert snapshot(lake) == snapshot(one)
