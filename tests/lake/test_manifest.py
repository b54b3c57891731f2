"""lake/manifest.py: data file names, manifests, and what a reader of a partition reads."""

from __future__ import annotations

import time

import pytest

from stockpipe.errors import LakeError
from stockpipe.lake import manifest
from stockpipe.lake.local import LocalLake
from stockpipe.lake.memory import MemoryLake

PREFIX = "processed-data/bars"
DT = "2026-03-02"
FOLDER = f"{PREFIX}/dt={DT}"


def test_data_files_are_numbered_per_writer() -> None:
    assert manifest.data_file(PREFIX, DT, "w0", 7) == f"{FOLDER}/w0-00000007.parquet"
    assert manifest.data_number(f"{FOLDER}/w0-00000007.parquet", "w0") == 7
    assert manifest.data_number(f"{FOLDER}/w0-00000007.parquet", "w1") is None
    assert manifest.data_number(f"{FOLDER}/part-0.parquet", "w0") is None
    assert manifest.data_writer(f"{FOLDER}/w12-00000003.parquet") == "w12"
    assert manifest.data_writer(f"{FOLDER}/part-0.parquet") is None
    stored = [f"{FOLDER}/w0-00000002.parquet", f"{FOLDER}/w0-00000009.parquet",
              f"{FOLDER}/w1-00000040.parquet", f"{FOLDER}/part-0.parquet"]  # fmt: skip
    assert manifest.next_number(stored, "w0") == 10
    assert manifest.next_number(stored, "w1") == 41
    assert manifest.next_number(stored, "w2") == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda: manifest.data_file(PREFIX, DT, "w0", 10**8),
        lambda: manifest.data_file(PREFIX, DT, "x0", 1),
        lambda: manifest.data_file(PREFIX, "2026-3-2", "w0", 1),
        lambda: manifest.manifest_path(PREFIX, DT, "w0/../w1"),
    ],
    ids=["number", "writer", "date", "writer-path"],
)
def test_bad_names_are_refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LakeError):
        call()


def test_a_published_manifest_names_the_files_a_reader_reads(tmp_path) -> None:
    lake = LocalLake(tmp_path)
    files = [manifest.data_file(PREFIX, DT, "w0", n) for n in (1, 2, 3)]
    for path in files:
        lake.write_bytes(path, b"parquet")
    manifest.publish(lake, PREFIX, DT, "w0", [files[2], files[0]])
    # SymlinkTextInputFormat: one absolute location per line, sorted.
    text = lake.read_bytes(manifest.manifest_path(PREFIX, DT, "w0")).decode()
    assert text == f"{lake.uri(files[0])}\n{lake.uri(files[2])}\n"
    part = manifest.read_partition(lake, PREFIX, DT)
    assert part.manifested
    assert part.files == [files[0], files[2]]
    assert part.unreferenced() == [files[1]]
    assert manifest.scan(lake, PREFIX)[DT] == part
    assert manifest.live_files(lake, PREFIX) == {DT: [files[0], files[2]]}


def test_a_manifest_resolves_names_inside_its_own_partition(tmp_path) -> None:
    lake = LocalLake(tmp_path)
    path = manifest.manifest_path(PREFIX, DT, "w0")
    # A lake folder that moved (or a hostile line) still resolves to this partition.
    lake.write_bytes(path, b"/elsewhere/dt=1999-01-01/w0-00000001.parquet\n\n")
    assert manifest.read_partition(lake, PREFIX, DT).files == [f"{FOLDER}/w0-00000001.parquet"]
    lake.write_bytes(path, b"/elsewhere/notes.txt\n")
    with pytest.raises(LakeError, match="not a Parquet data file"):
        manifest.read_partition(lake, PREFIX, DT)


def test_publish_refuses_files_of_another_partition(tmp_path) -> None:
    lake = LocalLake(tmp_path)
    with pytest.raises(LakeError, match="is not a data file of"):
        manifest.publish(lake, PREFIX, DT, "w0", [f"{PREFIX}/dt=2026-03-03/w0-00000001.parquet"])


def test_a_partition_without_manifest_is_read_whole(tmp_path) -> None:
    lake = LocalLake(tmp_path)
    legacy = [f"{FOLDER}/part-0.parquet", f"{FOLDER}/part-00001-a.parquet"]
    for path in legacy:
        lake.write_bytes(path, b"parquet")
    part = manifest.read_partition(lake, PREFIX, DT)
    assert not part.manifested
    assert part.files == legacy
    assert part.unreferenced() == []
    # An empty manifest makes it an empty partition: nothing counts.
    manifest.publish(lake, PREFIX, DT, "w0", [])
    part = manifest.read_partition(lake, PREFIX, DT)
    assert part.manifested and part.files == [] and part.unreferenced() == legacy
    assert manifest.live_files(lake, PREFIX) == {}


def test_writers_manifests_add_up(tmp_path) -> None:
    lake = LocalLake(tmp_path)
    a, b = (manifest.data_file(PREFIX, DT, w, 1) for w in ("w0", "w1"))
    for path in (a, b):
        lake.write_bytes(path, b"parquet")
    manifest.publish(lake, PREFIX, DT, "w1", [b])
    manifest.publish(lake, PREFIX, DT, "w0", [a])
    part = manifest.scan(lake, PREFIX)[DT]
    assert part.manifests == {"w0": [a], "w1": [b]}
    assert part.files == [a, b]


def test_modified_is_the_write_time_where_the_lake_knows_it(tmp_path) -> None:
    lake = LocalLake(tmp_path)
    lake.write_bytes(f"{FOLDER}/w0-00000001.parquet", b"x")
    written = manifest.modified(lake, f"{FOLDER}/w0-00000001.parquet")
    assert written is not None and abs(written - time.time()) < 60
    assert manifest.modified(lake, f"{FOLDER}/missing.parquet") is None
    memory = MemoryLake()
    memory.write_bytes(f"{FOLDER}/w0-00000001.parquet", b"x")
    assert manifest.modified(memory, f"{FOLDER}/w0-00000001.parquet") is None
