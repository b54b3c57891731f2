"""The stream database is locked by another process: puts are retried within bounds.

Another connection holds `BEGIN EXCLUSIVE` on the embedded stream's SQLite file, as a
second producer in the middle of a long write would.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import types
from pathlib import Path

import pytest
from reliability_support import dumps, good_bar

import stockpipe.stream.local as local_stream
from stockpipe.errors import StreamBusyError
from stockpipe.stream.local import LocalStream


def hold_write_lock(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    return other


def release_later(conn: sqlite3.Connection, seconds: float) -> threading.Thread:
    def release() -> None:
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread


def total(stream: LocalStream) -> int:
    return sum(stream.pending(s.shard_id, None) or 0 for s in stream.list_shards())


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the retry loop's back-off sleeps (they still sleep)."""
    recorded: list[float] = []

    def sleep(seconds: float) -> None:
        recorded.append(seconds)
        time.sleep(seconds)

    shim = types.SimpleNamespace(sleep=sleep, time_ns=time.time_ns)
    monkeypatch.setattr(local_stream, "time", shim)
    return recorded


def quick_busy(stream: LocalStream) -> None:
    # SQLite's own busy handler would wait 30 s per attempt and hide the retry loop.
    stream._db.execute("PRAGMA busy_timeout=20")


def test_default_busy_wait_outlasts_a_short_lock(tmp_path: Path) -> None:
    stream = LocalStream(tmp_path / "stream.db", shard_count=2)
    lock = hold_write_lock(stream.path)
    thread = release_later(lock, 0.5)
    results = stream.put_records([("AAPL", dumps(good_bar()))])
    thread.join()
    assert len(results) == 1 and total(stream) == 1
    stream.close()


def test_put_is_retried_with_backoff_then_succeeds_once_released(
    tmp_path: Path, sleeps: list[float]
) -> None:
    stream = LocalStream(tmp_path / "stream.db", shard_count=2)
    quick_busy(stream)
    lock = hold_write_lock(stream.path)
    thread = release_later(lock, 0.5)
    results = stream.put_records([("AAPL", dumps(good_bar())), ("MSFT", dumps(good_bar("MSFT")))])
    thread.join()
    assert len(results) == 2 and total(stream) == 2
    assert len(sleeps) >= 2  # it was refused at least twice before the lock went away
    assert sleeps == sorted(sleeps) and sleeps[0] == pytest.approx(0.05)  # backing off
    stream.close()


def test_readers_keep_reading_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    stream = LocalStream(tmp_path / "stream.db", shard_count=1)
    stream.put_records([("AAPL", dumps(good_bar()))])
    lock = hold_write_lock(stream.path)
    try:
        shard = stream.list_shards()[0].shard_id
        got = stream.get_records(stream.get_shard_iterator(shard, "TRIM_HORIZON"))
        assert [r.partition_key for r in got.records] == ["AAPL"]  # WAL: readers not blocked
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        stream.close()


def test_a_lock_that_never_goes_away_is_a_clear_busy_error_after_bounded_retries(
    tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_stream, "_BUSY_RETRIES", 4)
    stream = LocalStream(tmp_path / "stream.db", shard_count=2)
    quick_busy(stream)
    lock = hold_write_lock(stream.path)
    try:
        with pytest.raises(StreamBusyError, match="stayed locked after 4 attempts") as info:
            stream.put_records([("AAPL", dumps(good_bar()))])
        assert info.value.transient  # the caller may try again later
        assert str(stream.path) in str(info.value)
        assert sleeps == [0.05, 0.1, 0.2]  # 4 attempts, 3 waits in between, then it gives up
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert total(stream) == 0  # nothing half-written
    stream.put_records([("AAPL", dumps(good_bar()))])
    assert total(stream) == 1
    stream.close()
