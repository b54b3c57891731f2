"""One consumer per name: a second `archive` (or `process`) on the same lake is refused.

Two copies of one consumer read the same records from the same checkpoint, so each writes
them (the raw zone got 19,855 lines for 19,063 records) and their commits race. Local
lake: an exclusive `flock` on `_checkpoints/<consumer>/lock` inside the lake, so any
process pointing at that lake is held back, whatever its STOCKPIPE_HOME; the kernel
drops the lock when the holder exits, even by SIGKILL, so a crash never leaves it stuck.
The file says who holds it (pid, host, since), for the refusal message.

Other lakes (S3): a file lock cannot span machines. There the single writer is checked
with a lease object `_checkpoints/<consumer>/lease.json` (holder, expiry), renewed while
the consumer runs; a live lease of another holder is refused. The check is a read then a
write, so two consumers started within the same instant could both pass it: run one
`archive` and one `process` per stream and lake (docs/reliability.md, "One consumer per
name"), as the deployment does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from stockpipe.errors import ConsumerBusyError, LakeError
from stockpipe.lake.base import Lake, safe_relpath
from stockpipe.lake.local import LocalLake

LEASE_SECONDS = 60.0  # a lease not renewed for this long belongs to a dead consumer


def lock_path(consumer: str) -> str:
    return safe_relpath(f"_checkpoints/{consumer}/lock")


def lease_path(consumer: str) -> str:
    return safe_relpath(f"_checkpoints/{consumer}/lease.json")


def _holder() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _busy(consumer: str, where: str, holder: dict[str, object]) -> ConsumerBusyError:
    who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
    return ConsumerBusyError(
        f"consumer {consumer!r} is already running ({who}, since {holder.get('since', '?')}; "
        f"lock {where}): two would write every record twice. Stop that one first, or wait "
        "for it to finish"
    )


class ConsumerLock:
    """Held while a consumer runs; `renew()` keeps a lease alive, `release()` ends it."""

    def __init__(self, lake: Lake, consumer: str) -> None:
        self.lake = lake
        self.consumer = consumer
        self._fh: IO[str] | None = None
        self._token = uuid.uuid4().hex
        self._renewed = 0.0

    # -- local lake: flock ---------------------------------------------------------

    def _local_file(self) -> Path | None:
        if not isinstance(self.lake, LocalLake):
            return None
        return Path(self.lake.uri(lock_path(self.consumer)))

    def acquire(self) -> ConsumerLock:
        path = self._local_file()
        if path is None:
            self._acquire_lease()
            return self
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        except OSError as exc:
            raise LakeError(
                f"cannot open the consumer lock {path}: {exc.strerror or exc}; "
                "make the lake writable"
            ) from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            try:
                holder = json.loads(fh.read() or "{}")
            except ValueError:
                holder = {}
            fh.close()
            raise _busy(self.consumer, str(path), holder) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(_holder()))
        fh.flush()
        self._fh = fh
        return self

    # -- other lakes: a lease object --------------------------------------------------

    def _read_lease(self) -> dict[str, object] | None:
        try:
            doc = json.loads(self.lake.read_bytes(lease_path(self.consumer)))
        except FileNotFoundError:
            return None
        except ValueError:
            return None  # a torn or foreign lease is treated as absent
        return doc if isinstance(doc, dict) else None

    def _acquire_lease(self) -> None:
        lease = self._read_lease()
        if lease and lease.get("token") != self._token:
            expires = lease.get("expires", 0)
            if isinstance(expires, int | float) and expires > time.time():
                raise _busy(self.consumer, self.lake.uri(lease_path(self.consumer)), lease)
        self._write_lease()

    def _write_lease(self) -> None:
        doc = {**_holder(), "token": self._token, "expires": time.time() + LEASE_SECONDS}
        self.lake.write_bytes(lease_path(self.consumer), json.dumps(doc).encode())
        self._renewed = time.monotonic()

    def renew(self) -> None:
        """Keep a lease alive (a no-op for a file lock): call it from the consumer loop."""
        if self._fh is None and time.monotonic() - self._renewed > LEASE_SECONDS / 3:
            lease = self._read_lease()
            if lease and lease.get("token") != self._token:
                raise _busy(self.consumer, self.lake.uri(lease_path(self.consumer)), lease)
            self._write_lease()

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
            return
        lease = self._read_lease()
        if lease and lease.get("token") == self._token:
            with contextlib.suppress(LakeError):
                self.lake.delete(lease_path(self.consumer))


@contextlib.contextmanager
def consumer_lock(lake: Lake, consumer: str) -> Iterator[ConsumerLock]:
    """Hold the one-consumer-per-name lock of `consumer` on `lake` for the block.

    Raises `ConsumerBusyError` (naming the holder's pid) if another process holds it.
    Used by the archive and process stages (so `stockpipe archive`, `process` and `run`
    all take it) and by `reprocess`, which must not rebuild under a running `process`.
    """
    lock = ConsumerLock(lake, consumer).acquire()
    try:
        yield lock
    finally:
        lock.release()
