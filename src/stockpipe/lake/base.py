"""The lake contract: a tree of objects under one root, written atomically.

Relative paths use "/" and never leave the root: every path built from input goes
through `safe_relpath` first. Implementations: `LocalLake` (a folder) and `S3Lake`.
"""

from __future__ import annotations

import io
import re
from abc import ABC, abstractmethod

import pyarrow as pa
import pyarrow.parquet as pq

from stockpipe.errors import LakeError, UnsafePathError

# One path segment: letters, digits and . _ - = only, never "." or "..".
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._=\-]{0,199}$")

TMP_PREFIX = ".tmp-"


def safe_relpath(relpath: str) -> str:
    """Return `relpath` if every segment is a plain name, else raise UnsafePathError."""
    if not isinstance(relpath, str) or not relpath:
        raise UnsafePathError(f"empty lake path {relpath!r}")
    parts = relpath.split("/")
    for part in parts:
        if part in ("", ".", "..") or not _SEGMENT_RE.match(part):
            raise UnsafePathError(
                f"unsafe lake path {relpath!r}: segment {part!r} is not a plain name"
            )
    return relpath


def dictionary_columns(schema: pa.Schema) -> list[str] | bool:
    """The columns worth dictionary encoding: the text ones (symbols, sessions, shard ids
    repeat a lot). Prices, volumes and times are nearly all distinct: a dictionary there
    made a bars partition's write 1.7x slower and its file 25% larger (issue 21,
    docs/processing.md), and zstd compresses them well on its own. pyarrow takes False,
    not [], for "none"."""
    names = [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    return names or False


class Lake(ABC):
    """Objects under a root. Writes replace whole objects atomically."""

    #: Where the lake lives, for messages: a folder path or an s3:// URI.
    root: str

    @abstractmethod
    def uri(self, relpath: str) -> str:
        """Absolute location of `relpath` (a filesystem path or an s3:// URI)."""

    @abstractmethod
    def read_bytes(self, relpath: str) -> bytes:
        """The object's bytes; FileNotFoundError if it does not exist."""

    @abstractmethod
    def write_bytes(self, relpath: str, data: bytes) -> None:
        """Create or replace the object; readers see the old or the new bytes, never a mix."""

    @abstractmethod
    def exists(self, relpath: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Relative paths of every object under `prefix`, sorted; temporaries excluded."""

    @abstractmethod
    def delete(self, relpath: str) -> None:
        """Remove the object if it exists."""

    @abstractmethod
    def arrow_filesystem(self) -> tuple[object, str]:
        """(pyarrow.fs.FileSystem, base path) for bulk Parquet reads by engines."""

    def write_parquet(self, relpath: str, table: pa.Table) -> None:
        buf = io.BytesIO()
        # Deterministic bytes for the same rows: no timestamps in the metadata.
        pq.write_table(
            table,
            buf,
            compression="zstd",
            write_statistics=True,
            use_dictionary=dictionary_columns(table.schema),
        )
        self.write_bytes(relpath, buf.getvalue())

    def read_parquet(self, relpath: str) -> pa.Table:
        data = self.read_bytes(relpath)
        try:
            return pq.read_table(io.BytesIO(data))
        except (pa.ArrowException, OSError) as exc:
            # Arrow names the codec ("ZSTD decompression failed"), never the file.
            raise LakeError(
                f"Parquet file {self.uri(relpath)} is corrupted ({str(exc)[:160]}); rebuild the "
                "processed zone from raw-data/ with `stockpipe reprocess`, or delete the file "
                "and rerun the stage that wrote it"
            ) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r})"
