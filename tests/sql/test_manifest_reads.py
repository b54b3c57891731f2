"""DuckDB reads bars, daily and quarantine through their manifests (lake/manifest.py).

A partition with manifests is exactly the files they name: a batch's file counts once its
manifest is published, a file a compaction replaced stops counting when the new manifest
is, even while it is still on disk. A partition without manifests reads every file.
"""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pytest

from manifest_lake import ManifestWriter, bars, one_row
from stockpipe.contract import BARS, DAILY, QUARANTINE
from stockpipe.lake import manifest
from stockpipe.lake.local import LocalLake
from stockpipe.sql.duckdb import DuckDBEngine
from stockpipe.sql.lakefiles import FileKey, Listing, TableFiles

DT_A, DT_B = "2026-01-05", "2026-01-06"
# Rows each batch adds to each date: different, so a count says how many batches it holds.
PER_BATCH = {DT_A: 3, DT_B: 5}


@pytest.fixture(params=[True, False], ids=["duckdb-readers", "arrow-datasets"])
def native(request) -> bool:
    return bool(request.param)


COUNTS = (
    "SELECT dt, count(*) AS n, count(DISTINCT (symbol, interval, ts)) AS keys "
    "FROM bars GROUP BY dt ORDER BY dt"
)


def test_a_concurrent_reader_never_sees_part_of_a_batch(tmp_path, native) -> None:
    """A writer appends batches to two dates (one file per date and batch, then the
    date's manifest) and compacts every fourth batch (one file replacing the date's
    files, which are deleted at once); readers query all the while. In each date every
    answer is a whole number of batches, each key once."""
    lake = LocalLake(tmp_path / "lake")
    writer = ManifestWriter(lake)
    batches = 40
    done = threading.Event()
    errors: list[BaseException] = []
    seen: list[dict[str, tuple[int, int]]] = []

    def write() -> None:
        try:
            for b in range(batches):
                for dt, n in PER_BATCH.items():
                    writer.append(dt, bars(b * n, n))
                if b % 4 == 3:
                    for dt in PER_BATCH:
                        writer.compact(dt)
                time.sleep(0.002)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            done.set()

    eng = DuckDBEngine(lake, native=native)

    def read() -> None:
        try:
            while not done.is_set():
                result = eng.execute(COUNTS).rows
                seen.append({str(dt): (int(n), int(k)) for dt, n, k in result})
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    thread = threading.Thread(target=write)
    for t in [thread, *readers]:
        t.start()
    for t in [thread, *readers]:
        t.join(120)
    final = {str(dt): (int(n), int(k)) for dt, n, k in eng.execute(COUNTS).rows}
    eng.close()
    assert errors == []
    whole = {dt: {n * j for j in range(batches + 1)} for dt, n in PER_BATCH.items()}
    for answer in seen:
        for dt, (n, keys) in answer.items():
            assert n in whole[dt], f"{dt}: {n} rows is not a whole number of batches"
            assert keys == n, f"{dt}: {n - keys} keys counted twice"
    assert final == {dt: (n * batches, n * batches) for dt, n in PER_BATCH.items()}
    # The readers saw the lake grow, not just its two ends.
    assert len({tuple(sorted(a.items())) for a in seen}) >= 3


def test_superseded_and_unpublished_files_on_disk_are_not_read(tmp_path, native) -> None:
    lake = LocalLake(tmp_path / "lake")
    writer = ManifestWriter(lake)
    writer.append(DT_A, bars(0, 2))
    writer.append(DT_A, bars(2, 3))
    eng = DuckDBEngine(lake, native=native)
    assert eng.execute("SELECT count(*) FROM bars").rows == [(5,)]
    old = writer.compact(DT_A, delete=False)
    # A file written for the next batch whose manifest is not published yet.
    lake.write_parquet(manifest.data_file(BARS.prefix, DT_A, "w0", 9), bars(5, 4))
    assert all(lake.exists(p) for p in old)
    assert eng.execute(
        "SELECT count(*), count(DISTINCT ts), min(volume), max(volume) FROM bars"
    ).rows == [(5, 5, 100, 104)]
    eng.close()


def test_a_legacy_partition_is_read_beside_a_manifested_one(tmp_path, native) -> None:
    lake = LocalLake(tmp_path / "lake")
    lake.write_parquet(f"processed-data/bars/dt={DT_A}/part-0.parquet", bars(0, 3, "MSFT"))
    lake.write_parquet(f"processed-data/bars/dt={DT_A}/part-1.parquet", bars(3, 1, "MSFT"))
    ManifestWriter(lake).append(DT_B, bars(0, 2))
    eng = DuckDBEngine(lake, native=native)
    got = eng.execute("SELECT dt, symbol, count(*) FROM bars GROUP BY 1, 2 ORDER BY 1").rows
    assert got == [(DT_A, "MSFT", 4), (DT_B, "AAPL", 2)]
    eng.close()


@pytest.mark.parametrize("table", [DAILY, QUARANTINE], ids=lambda t: t.name)
def test_daily_and_quarantine_read_their_manifests(tmp_path, table) -> None:
    lake = LocalLake(tmp_path / "lake")
    writer = ManifestWriter(lake, table)
    writer.append(DT_A, one_row(table))
    # Written after the manifest: counts for nothing until a manifest names it.
    lake.write_parquet(writer.next_file(DT_A), pa.concat_tables([one_row(table)] * 2))
    eng = DuckDBEngine(lake)
    assert eng.execute(f"SELECT count(*) FROM {table.name}").rows == [(1,)]
    eng.close()


def test_a_query_reads_no_manifest_when_nothing_changed(tmp_path, native) -> None:
    lake = LocalLake(tmp_path / "lake")
    writer = ManifestWriter(lake)
    writer.append(DT_A, bars(0, 2))
    writer.append(DT_B, bars(0, 3))
    eng = DuckDBEngine(lake, native=native)
    files = eng._files["bars"]
    reads: list[str] = []
    real_read = files._read

    def counted(path: str) -> bytes:
        reads.append(path.rsplit("/", 2)[-2])
        return real_read(path)

    files._read = counted  # type: ignore[method-assign]
    files._racy_ns = 0  # these stats are trusted at once (the racy rule has its own test)
    assert eng.execute("SELECT count(*) FROM bars").rows == [(5,)]
    assert sorted(reads) == [f"dt={DT_A}", f"dt={DT_B}"]
    reads.clear()
    assert eng.execute("SELECT count(*) FROM bars").rows == [(5,)]
    assert eng.execute("SELECT count(*) FROM bars WHERE dt = ?", [DT_B]).rows == [(3,)]
    assert reads == []
    writer.append(DT_B, bars(3, 4))
    assert eng.execute("SELECT count(*) FROM bars").rows == [(9,)]
    assert reads == [f"dt={DT_B}"]  # only the manifest that changed
    eng.close()


def test_a_manifest_changed_within_the_racy_window_is_read_again() -> None:
    """A stat that did not change proves nothing while the manifest is younger than a
    clock tick (a second replace may keep size and time): it is read again until then."""
    key: FileKey = ("/lake/processed-data/bars/_manifests/dt=2026-01-05/w0", 40, 1_000, 0)
    texts = [b"/lake/processed-data/bars/dt=2026-01-05/w0-00000001.parquet\n"]
    reads: list[str] = []

    def read(path: str) -> bytes:
        reads.append(path)
        return texts[-1]

    now = [1_000]
    files = TableFiles(
        BARS,
        lambda manifested: Listing(data={}, manifests={"2026-01-05": {"w0": key}}),
        read,
        lambda path: None,
        "/lake",
        racy_ns=500,
        clock=lambda: now[0],
    )
    assert [k[0].rsplit("/", 1)[-1] for k in files.current()] == ["w0-00000001.parquet"]
    texts.append(b"/lake/processed-data/bars/dt=2026-01-05/w0-00000002.parquet\n")
    now[0] = 1_400  # same stat, still racy: read again, and the new file is seen
    assert [k[0].rsplit("/", 1)[-1] for k in files.current()] == ["w0-00000002.parquet"]
    now[0] = 1_501  # settled: the cached answer stands
    assert len(files.current()) == 1 and len(reads) == 2
