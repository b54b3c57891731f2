"""What every command needs: its settings and the lake (the stream: `stockpipe.stream`)."""

from __future__ import annotations

from typing import Any

import typer

from stockpipe.config import Settings, configure, env_help
from stockpipe.lake import Lake, open_lake

__all__ = ["env_help", "open_lake_from", "settings_from"]


def settings_from(ctx: typer.Context, **overrides: Any) -> Settings:
    """Settings for this command: CLI overrides > env > file > defaults."""
    root = ctx.find_root().obj or {}
    return configure(overrides, root.get("config"))


def open_lake_from(settings: Settings) -> Lake:
    return open_lake(settings.lake_location)
