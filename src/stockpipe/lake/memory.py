"""An in-memory lake: lets a Spark task run the embedded engine on one series, unchanged.

Each task loads the stored rows of its series into a `MemoryLake`, runs
`stockpipe.processing.engine.Processor` on it, and ships back the partition files the
engine wrote. So cleaning, deduplication, indicator and daily math exist exactly once.
"""

from __future__ import annotations

from stockpipe.errors import LakeError
from stockpipe.lake.base import TMP_PREFIX, Lake, safe_relpath


class MemoryLake(Lake):
    """Objects in a dict; `written` records every path written since the last clear."""

    def __init__(self) -> None:
        self.root = "memory:"
        self._objects: dict[str, bytes] = {}
        self.written: list[str] = []

    def uri(self, relpath: str) -> str:
        return f"memory:/{safe_relpath(relpath)}"

    def read_bytes(self, relpath: str) -> bytes:
        try:
            return self._objects[safe_relpath(relpath)]
        except KeyError:
            raise FileNotFoundError(relpath) from None

    def write_bytes(self, relpath: str, data: bytes) -> None:
        path = safe_relpath(relpath)
        self._objects[path] = bytes(data)
        self.written.append(path)

    def exists(self, relpath: str) -> bool:
        return safe_relpath(relpath) in self._objects

    def list(self, prefix: str) -> list[str]:
        base = prefix.rstrip("/") + "/" if prefix else ""
        return sorted(
            p
            for p in self._objects
            if p.startswith(base) and not p.rsplit("/", 1)[-1].startswith(TMP_PREFIX)
        )

    def delete(self, relpath: str) -> None:
        self._objects.pop(safe_relpath(relpath), None)

    def arrow_filesystem(self) -> tuple[object, str]:
        # Only the engine's own read/write_parquet touch this lake; bulk readers never do.
        raise LakeError("a MemoryLake has no Arrow filesystem: use read_parquet instead")
