"""Creating and deleting a Kinesis stream, for development (`stockpipe stream create | delete`).

In AWS the CloudFormation stack owns the stream; these are for LocalStack, moto and
personal sandboxes. Describing a stream is the contract's `Stream.describe()`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from stockpipe.aws.retry import error_code
from stockpipe.errors import StreamError

if TYPE_CHECKING:
    from stockpipe.config import Settings

WAIT_TIMEOUT = 300.0  # seconds a create or delete may take before we give up


def _kinesis(settings: Settings) -> Any:
    from stockpipe.aws.session import client

    return client("kinesis", settings.aws_region)


def create_kinesis_stream(settings: Settings, shards: int, on_demand: bool, wait: bool) -> None:
    """Create KINESIS_STREAM_NAME, provisioned with `shards` or on-demand."""
    kinesis, name = _kinesis(settings), settings.kinesis_stream_name
    kwargs: dict[str, Any] = {"StreamName": name}
    if on_demand:
        kwargs["StreamModeDetails"] = {"StreamMode": "ON_DEMAND"}
    else:
        kwargs["ShardCount"] = shards
    try:
        kinesis.create_stream(**kwargs)
        if wait:
            _wait(kinesis, name, "ACTIVE", WAIT_TIMEOUT)
    except (ClientError, BotoCoreError) as exc:
        raise _aws_error(name, "creation", exc) from exc


def delete_kinesis_stream(settings: Settings, wait: bool) -> None:
    """Delete KINESIS_STREAM_NAME and every record in it."""
    kinesis, name = _kinesis(settings), settings.kinesis_stream_name
    try:
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
        if wait:
            _wait(kinesis, name, None, WAIT_TIMEOUT)
    except (ClientError, BotoCoreError) as exc:
        raise _aws_error(name, "deletion", exc) from exc


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


def _aws_error(name: str, action: str, exc: Exception) -> StreamError:
    code = error_code(exc)
    if code == "ResourceInUseException":
        return StreamError(f"stream {name!r} already exists; `stockpipe stream describe` shows it")
    if code == "ResourceNotFoundException":
        return StreamError(
            f"stream {name!r} does not exist; create it with `stockpipe stream create`"
        )
    return StreamError(f"{action} of stream {name!r} failed: {exc}")
