"""Issue 17 through the CLI: reprocess never loses what raw-data/ lacks (item 2), errors
name the file and the way out (item 7), `process` reports this run's figures (item 8)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

INGEST = ("ingest", "--days", "1", "--symbols", "AAPL,MSFT", "--start", "2026-11-23")


def _one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error:") and "Traceback" not in result.err
    return lines[0]


def _bars(home: Path) -> int:
    files = sorted((home / "lake" / "processed-data" / "bars").rglob("*.parquet"))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


# -- item 2 -------------------------------------------------------------------------------


def test_reprocess_refuses_while_raw_data_is_behind_the_process_checkpoint(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli(*INGEST).code == 0
    assert cli("archive").code == 0  # raw-data/ holds day one
    assert cli(*INGEST[:-1], "2026-11-24").code == 0  # day two: not archived yet
    assert cli("process").code == 0
    assert _bars(home) == 2 * 2 * 390
    before = sorted(p.name for p in (home / "lake" / "processed-data").rglob("*.parquet"))

    refused = cli("reprocess")
    assert refused.code == 1
    line = _one_error_line(refused)
    assert "raw-data/ is behind the process checkpoint" in line
    assert "run `stockpipe archive` first" in line and "Nothing was deleted" in line
    # Nothing was deleted: every bar is still there.
    assert _bars(home) == 2 * 2 * 390
    after = sorted(p.name for p in (home / "lake" / "processed-data").rglob("*.parquet"))
    assert after == before

    # Once the archive has landed day two, the rebuild goes ahead and loses nothing.
    assert cli("archive").code == 0
    rebuilt = cli("reprocess")
    assert rebuilt.code == 0, rebuilt.err
    assert _bars(home) == 2 * 2 * 390


def test_reprocess_refuses_while_process_runs(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    from stockpipe.lake.local import LocalLake
    from stockpipe.lake.lock import consumer_lock

    assert cli(*INGEST).code == 0
    assert cli("archive").code == 0
    with consumer_lock(LocalLake(home / "lake"), "process"):
        refused = cli("reprocess")
    assert refused.code == 1
    assert f"consumer 'process' is already running (pid {os.getpid()}" in _one_error_line(refused)


# -- item 7 -------------------------------------------------------------------------------


def test_reprocess_on_a_read_only_lake_names_the_lake_and_deletes_nothing(
    cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    assert cli(*INGEST).code == 0
    assert cli("archive").code == 0 and cli("process").code == 0
    before = _bars(home)

    # Tests run as root, where chmod does not stop writes: the OS error is raised where a
    # read-only file system would raise it, on every rename and unlink.
    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "replace", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    refused = cli("reprocess")
    monkeypatch.undo()
    assert refused.code == 1
    line = _one_error_line(refused)
    assert f"the lake {home / 'lake'} is not writable" in line
    assert "Read-only file system" in line and "Nothing was deleted" in line
    assert _bars(home) == before


def test_a_corrupted_parquet_file_is_named_with_the_way_out(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli(*INGEST).code == 0
    assert cli("process").code == 0
    (part,) = (home / "lake" / "processed-data" / "bars").rglob("*.parquet")
    data = bytearray(part.read_bytes())
    # Flip bytes in the middle of the first column chunk: the footer still parses, the
    # ZSTD pages do not.
    for i in range(8, 200):
        data[i] ^= 0x5A
    part.write_bytes(bytes(data))
    assert cli(*INGEST[:-1], "2026-11-23", "--seed", "3").code == 0  # new versions of day one
    failed = cli("process")
    assert failed.code == 1
    line = _one_error_line(failed)
    assert f"Parquet file {part} is corrupted" in line
    assert "stockpipe reprocess" in line and "delete the file" in line


def test_a_huge_csv_field_names_the_file_and_line(cli, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "huge.csv"
    with path.open("w") as fh:
        fh.write("timestamp,open,high,low,close,volume\n")
        fh.write("2026-11-24 09:31:00,1,1,1,1,10\n")
        fh.write('2026-11-24 09:32:00,"' + "x" * (20 * 1024 * 1024) + '",1,1,1,10\n')
    result = cli("ingest", "--source", "replay", str(path), "--symbol", "IBM")
    assert result.code == 1
    line = _one_error_line(result)
    assert f"{path} line 3: unreadable CSV (field larger than field limit" in line
    assert "fix or delete the file" in line


# -- item 8 -------------------------------------------------------------------------------


def test_process_summary_reports_this_run_not_the_running_totals(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli(*INGEST).code == 0
    first = cli("process").out.replace("\n", " ")
    assert (
        "processed 780 records this run: read 780 = kept 780 + duplicates 0 + quarantined 0"
        in first
    )
    # The same day again (a re-run ingest): this run reads 780, every one a duplicate.
    assert cli(*INGEST).code == 0
    second = cli("process").out.replace("\n", " ")
    assert (
        "processed 780 records this run: read 780 = kept 0 + duplicates 780 + quarantined 0"
        in second
    )
    assert "since the first run: read 1560, kept 780, duplicates 780, quarantined 0" in second
