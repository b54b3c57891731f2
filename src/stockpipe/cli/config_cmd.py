"""`stockpipe config show`."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from stockpipe.cli.common import settings_from
from stockpipe.config import describe, load_settings

config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


@config_app.command("show")
def show(ctx: typer.Context) -> None:
    """Effective configuration and where each value came from (secrets redacted)."""
    settings_from(ctx)
    loaded = load_settings(config_file=(ctx.obj or {}).get("config"))
    table = Table("setting", "value", "from")
    for env, value, origin in describe(loaded):
        table.add_row(env, value, origin)
    Console(width=200).print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
