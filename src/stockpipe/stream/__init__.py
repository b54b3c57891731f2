"""The stream: the `Stream` contract (base.py), its backends, consumers and checkpoints.

`open_stream(settings)` picks the backend named by STOCKPIPE_STREAM, as `open_lake` does
for the lake: no stage, command or panel ever checks which backend it talks to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stockpipe.stream.base import Stream, StreamDescription

if TYPE_CHECKING:
    from stockpipe.config import Settings

__all__ = ["Stream", "StreamDescription", "open_existing_stream", "open_stream"]


def open_stream(settings: Settings) -> Stream:
    """The stream backend named by STOCKPIPE_STREAM (the embedded one is created on first use)."""
    if settings.stream == "kinesis":
        from stockpipe.stream.kinesis import KinesisStream

        return KinesisStream.from_settings(settings)
    from stockpipe.stream.local import LocalStream

    return LocalStream(
        settings.stream_path,
        shard_count=settings.shards,
        retention_hours=settings.retention_hours,
    )


def open_existing_stream(settings: Settings) -> Stream | None:
    """The stream, creating nothing: None while the embedded stream's database does not
    exist (`status` and the health panel on an empty home leave it empty)."""
    if settings.stream == "local" and not settings.stream_path.is_file():
        return None
    return open_stream(settings)
