"""The one error hierarchy. Every message names the bad value and the fix.

`transient` errors may succeed when retried (a busy database, a throttled API);
terminal ones will not, and the CLI reports them as one line.
"""

from __future__ import annotations


class StockpipeError(Exception):
    """Root of every error stockpipe raises on purpose."""

    transient: bool = False
    exit_code: int = 1


class ConfigError(StockpipeError):
    """A setting or argument is missing or invalid."""

    exit_code = 2


class ValidationError(StockpipeError):
    """A record or value does not satisfy the data contract."""


class StreamError(StockpipeError):
    """The stream refused or failed an operation."""


class StreamLimitError(StreamError):
    """A PutRecords call broke one of the Kinesis limits."""


class ExpiredIteratorError(StreamError):
    """A shard iterator is older than five minutes (Kinesis semantics)."""


class StreamBusyError(StreamError):
    """The stream store is locked or throttled; retrying may succeed."""

    transient = True


class CheckpointError(StreamError):
    """A consumer checkpoint is unreadable, or belongs to another stream than the one read."""


class ConsumerBusyError(StreamError):
    """Another process already runs the consumer of that name on that lake."""


class LakeError(StockpipeError):
    """Reading or writing the data lake failed."""


class UnsafePathError(LakeError):
    """A path built from input would escape the lake root."""


class SourceError(StockpipeError):
    """A market-data source failed."""


class QueryError(StockpipeError):
    """A SQL query failed."""
