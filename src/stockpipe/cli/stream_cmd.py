"""`stockpipe stream create | describe | delete`: a Kinesis stream for development.

In AWS the CloudFormation stack owns the stream; these commands are for LocalStack,
moto and personal sandboxes.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from stockpipe.cli.common import settings_from
from stockpipe.config import Settings, env_help
from stockpipe.errors import ConfigError
from stockpipe.stream import open_stream
from stockpipe.stream.kinesis_admin import create_kinesis_stream, delete_kinesis_stream

stream_app = typer.Typer(help="Manage the Kinesis stream (development).", no_args_is_help=True)
console = Console()

_NAME_HELP = f"Stream name {env_help('kinesis_stream_name')}"


def _require_kinesis(settings: Settings, action: str) -> None:
    if settings.stream != "kinesis":
        raise ConfigError(
            f"`stockpipe stream {action}` manages Kinesis streams, but STOCKPIPE_STREAM="
            f"{settings.stream}; set STOCKPIPE_STREAM=kinesis (the embedded stream at "
            f"{settings.stream_path} is created on first use)"
        )


@stream_app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Option(None, "--name", help=_NAME_HELP),
    shards: int = typer.Option(2, "--shards", min=1, max=500, help="Provisioned shard count"),
    on_demand: bool = typer.Option(False, "--on-demand", help="On-demand capacity mode"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the stream is ACTIVE"),
) -> None:
    """Create the stream (provisioned with --shards, or --on-demand)."""
    settings = settings_from(ctx, kinesis_stream_name=name)
    _require_kinesis(settings, "create")
    create_kinesis_stream(settings, shards, on_demand, wait)
    name = settings.kinesis_stream_name
    mode = "on-demand" if on_demand else f"{shards} shards"
    console.print(f"created Kinesis stream {name} ({mode})")


@stream_app.command("describe")
def describe(
    ctx: typer.Context,
    name: str = typer.Option(None, "--name", help=_NAME_HELP),
) -> None:
    """Status, retention and shards (with lineage) of the stream."""
    settings = settings_from(ctx, kinesis_stream_name=name)
    stream = open_stream(settings)
    try:
        info = stream.describe()
    finally:
        stream.close()
    held = "" if info.records is None else f", {info.records} records"
    console.print(
        f"{info.name}: {info.status}, {info.mode}, retention {info.retention_hours:g} h, "
        f"{info.open_shards} open shards{held}"
    )
    table = Table("shard", "hash range start", "parents", "state", title=info.name)
    for shard in info.shards:
        table.add_row(
            shard.shard_id,
            str(shard.starting_hash_key),
            ", ".join(shard.parents()) or "-",
            "closed" if shard.closed else "open",
        )
    console.print(table)


@stream_app.command("delete")
def delete(
    ctx: typer.Context,
    name: str = typer.Option(None, "--name", help=_NAME_HELP),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the stream is gone"),
) -> None:
    """Delete the stream and every record in it."""
    settings = settings_from(ctx, kinesis_stream_name=name)
    _require_kinesis(settings, "delete")
    name = settings.kinesis_stream_name
    if not yes:
        typer.confirm(f"delete Kinesis stream {name} and all its records?", abort=True)
    delete_kinesis_stream(settings, wait)
    console.print(f"deleted Kinesis stream {name}")


def register(app: typer.Typer) -> None:
    app.add_typer(stream_app, name="stream")
