"""What every command needs: settings, the stream, the lake."""

from __future__ import annotations

from typing import Any

import typer

from stockpipe.config import Settings, configure, env_help
from stockpipe.lake import Lake, open_lake
from stockpipe.stream.base import Stream

__all__ = ["env_help", "open_stream", "open_lake_from", "settings_from"]


def settings_from(ctx: typer.Context, **overrides: Any) -> Settings:
    """Settings for this command: CLI overrides > env > file > defaults."""
    root = ctx.find_root().obj or {}
    return configure(overrides, root.get("config"))


def open_stream(settings: Settings) -> Stream:
    """The stream backend named by STOCKPIPE_STREAM."""
    if settings.stream == "kinesis":
        from stockpipe.stream.kinesis import KinesisStream

        return KinesisStream.from_settings(settings)
    from stockpipe.stream.local import LocalStream

    return LocalStream(
        settings.stream_path,
        shard_count=settings.shards,
        retention_hours=settings.retention_hours,
    )


def open_lake_from(settings: Settings) -> Lake:
    return open_lake(settings.lake_location)
