"""Consumer checkpoints kept in the lake: the lake-backed `CheckpointStore`.

One JSON object per consumer, `_checkpoints/<consumer>/checkpoint.json`, replaced
atomically by the lake's `write_bytes`. A consumer commits only after its output is
durable, so a crash before the commit means the batch is read again, never skipped.
The consumer's lock or lease lives in the same folder (`lake/lock.py`).
"""

from __future__ import annotations

from stockpipe.errors import CheckpointError
from stockpipe.lake.base import Lake, safe_relpath
from stockpipe.stream.checkpoint import Checkpoint, reset_hint


def checkpoint_path(consumer: str) -> str:
    return safe_relpath(f"_checkpoints/{consumer}/checkpoint.json")


class LakeCheckpointStore:
    """Checkpoints as objects of `lake` (a folder or an S3 prefix)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def where(self, consumer: str) -> str:
        return self.lake.uri(checkpoint_path(consumer))

    def load(self, consumer: str) -> Checkpoint:
        try:
            raw = self.lake.read_bytes(checkpoint_path(consumer))
        except FileNotFoundError:
            return Checkpoint(consumer)
        try:
            return Checkpoint.from_json(consumer, raw)
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            # JSONDecodeError and UnicodeDecodeError are ValueErrors; a list where an object
            # belongs is a TypeError or AttributeError.
            raise CheckpointError(
                f"checkpoint {self.where(consumer)} is corrupted ({type(exc).__name__}: "
                f"{str(exc)[:120]}); restore it from a backup, or {reset_hint(consumer)}"
            ) from None

    def save(self, checkpoint: Checkpoint) -> None:
        self.lake.write_bytes(checkpoint_path(checkpoint.consumer), checkpoint.to_json())

    def __repr__(self) -> str:
        return f"LakeCheckpointStore({self.lake!r})"
