"""A consumer's checkpoint and the `CheckpointStore` contract that keeps it.

A checkpoint holds the last sequence number committed per shard, the shards read to their
end, a small `state` dict the stage commits together with its positions (its counters, so
the positions and the counters can never disagree), and the identity of the stream it was
written for (`Stream.identity`). Its document format lives here; where the document is
kept is the store's business: `lake/checkpoints.py` `LakeCheckpointStore` keeps it in
the lake, next to the output it vouches for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


def reset_hint(consumer: str) -> str:
    command = "process" if consumer == "process" else "archive" if consumer == "archive" else None
    if command is None:
        return f"delete the checkpoint of consumer {consumer!r} to read the stream from its start"
    return (
        f"start over with `stockpipe {command} --reset-checkpoints`, which reads the stream "
        "from its start (what is already in the lake is kept; bars read again count as "
        "duplicates)"
    )


@dataclass
class Checkpoint:
    consumer: str
    shards: dict[str, str] = field(default_factory=dict)  # shard_id -> last committed seq
    finished: list[str] = field(default_factory=list)  # closed shards read to their end
    state: dict[str, Any] = field(default_factory=dict)
    updated_at: str | None = None
    stream: dict[str, str] | None = None  # Stream.identity() of the stream it was read from

    @classmethod
    def from_json(cls, consumer: str, raw: bytes) -> Checkpoint:
        """Parse a stored checkpoint; ValueError, TypeError or AttributeError if it is bad."""
        doc = json.loads(raw)
        shards = {str(k): str(v) for k, v in dict(doc.get("shards", {})).items()}
        if not all(v.isdigit() for v in shards.values()):
            raise ValueError("a shard position is not a sequence number")
        stream = doc.get("stream")
        return cls(
            consumer=consumer,
            shards=shards,
            finished=[str(f) for f in list(doc.get("finished", []))],
            state=dict(doc.get("state", {})),
            updated_at=doc.get("updated_at"),
            stream={str(k): str(v) for k, v in dict(stream).items()} if stream else None,
        )

    def to_json(self) -> bytes:
        """The stored document; stamps `updated_at` with the time of the write."""
        self.updated_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        doc = {
            "consumer": self.consumer,
            "stream": self.stream,
            "shards": dict(sorted(self.shards.items())),
            "finished": sorted(self.finished),
            "state": self.state,
            "updated_at": self.updated_at,
        }
        return json.dumps(doc, indent=1).encode()


class CheckpointStore(Protocol):
    """Where the checkpoints of named consumers are kept.

    `load` returns an empty checkpoint for a consumer that never committed and raises
    `CheckpointError` (naming `where` and the reset) for one it cannot read. `save`
    replaces the checkpoint atomically: a reader sees the old one or the new one.
    """

    def where(self, consumer: str) -> str:
        """The checkpoint's location, for messages (a file path or an s3:// URI)."""
        ...

    def load(self, consumer: str) -> Checkpoint: ...

    def save(self, checkpoint: Checkpoint) -> None: ...
