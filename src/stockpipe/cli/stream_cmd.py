"""`stockpipe stream create | describe | delete`: a Kinesis stream for development.

In AWS the CloudFormation stack owns the stream; these commands are for LocalStack,
moto and personal sandboxes.
"""

from __future__ import annotations

import time
from typing import Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from stockpipe.aws.retry import error_code
from stockpipe.cli.common import settings_from
from stockpipe.config import Settings, env_help
from stockpipe.errors import ConfigError, StreamError
from stockpipe.stream import open_stream

stream_app = typer.Typer(help="Manage the Kinesis stream (development).", no_args_is_help=True)
console = Console()

_NAME_HELP = f"Stream name {env_help('kinesis_stream_name')}"


def _kinesis(settings: Settings) -> Any:
    from stockpipe.aws.session import client

    return client("kinesis", settings.aws_region)


def _require_kinesis(settings: Settings, action: str) -> None:
    if settings.stream != "kinesis":
        raise ConfigError(
            f"`stockpipe stream {action}` manages Kinesis streams, but STOCKPIPE_STREAM="
            f"{settings.stream}; set STOCKPIPE_STREAM=kinesis (the embedded stream at "
            f"{settings.stream_path} is created on first use)"
        )


def _wait(kinesis: Any, name: str, want: str | None, timeout: float) -> None:
    """Poll DescribeStreamSummary until the status is `want` (None: the stream is gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
                "StreamStatus"
            ]
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException" and want is None:
                return
            raise
        if status == want:
            return
        time.sleep(0.5)
    raise StreamError(
        f"stream {name!r} did not become {want or 'deleted'} within {timeout:.0f}s; "
        "check it with `stockpipe stream describe`"
    )


def _aws_errors(name: str, action: str, exc: Exception) -> StreamError:
    code = error_code(exc)
    if code == "ResourceInUseException":
        return StreamError(f"stream {name!r} already exists; `stockpipe stream describe` shows it")
    if code == "ResourceNotFoundException":
        return StreamError(
            f"stream {name!r} does not exist; create it with `stockpipe stream create`"
        )
    return StreamError(f"{action} of stream {name!r} failed: {exc}")


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
    kinesis, name = _kinesis(settings), settings.kinesis_stream_name
    kwargs: dict[str, Any] = {"StreamName": name}
    if on_demand:
        kwargs["StreamModeDetails"] = {"StreamMode": "ON_DEMAND"}
    else:
        kwargs["ShardCount"] = shards
    try:
        kinesis.create_stream(**kwargs)
        if wait:
            _wait(kinesis, name, "ACTIVE", 300)
    except (ClientError, BotoCoreError) as exc:
        raise _aws_errors(name, "creation", exc) from exc
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
    kinesis, name = _kinesis(settings), settings.kinesis_stream_name
    if not yes:
        typer.confirm(f"delete Kinesis stream {name} and all its records?", abort=True)
    try:
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
        if wait:
            _wait(kinesis, name, None, 300)
    except (ClientError, BotoCoreError) as exc:
        raise _aws_errors(name, "deletion", exc) from exc
    console.print(f"deleted Kinesis stream {name}")


def register(app: typer.Typer) -> None:
    app.add_typer(stream_app, name="stream")
