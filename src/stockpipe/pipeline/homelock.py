"""One `stockpipe run` per STOCKPIPE_HOME: an exclusive lock taken before any stage starts.

The lock is an `flock` on `$STOCKPIPE_HOME/run.lock`, so the kernel releases it when the
holder dies, even by SIGKILL: a stale lock file never blocks the next run. The file holds
the holder's pid, which a refused second run names in its one-line error.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from stockpipe.errors import StockpipeError
from stockpipe.home import LOCK_NAME, describe_lock, holder, lock_path

__all__ = ["LOCK_NAME", "HomeLock", "PipelineRunning", "holder", "lock_path"]


class PipelineRunning(StockpipeError):
    """Another `stockpipe run` holds this STOCKPIPE_HOME."""

    exit_code = 3


class HomeLock:
    """Held for the whole of `stockpipe run`; `release()` (or exit) frees it."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.path = lock_path(self.home)
        self._fh: IO[str] | None = None

    def acquire(self, **info: Any) -> HomeLock:
        self.home.mkdir(parents=True, exist_ok=True)
        # "a": never truncate a file another run may be describing itself in.
        fh = open(self.path, "a+")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            other = describe_lock(self.path)
            pid = other.get("pid", "unknown")
            raise PipelineRunning(
                f"another stockpipe run (pid {pid}) is using STOCKPIPE_HOME={self.home}; "
                "stop it first (Ctrl-C in its terminal, or kill "
                f"{pid}), or set another STOCKPIPE_HOME"
            ) from None
        doc = {"pid": os.getpid(), "started_at": datetime.now(UTC).isoformat(), **info}
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(doc))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is None:
            return
        with contextlib.suppress(OSError):
            self._fh.truncate(0)
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()
        self._fh = None

    def __enter__(self) -> HomeLock:
        return self.acquire() if self._fh is None else self

    def __exit__(self, *exc: object) -> None:
        self.release()
