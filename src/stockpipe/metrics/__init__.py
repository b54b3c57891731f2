"""Pipeline metrics: `get_metrics(settings)` picks the backend named by STOCKPIPE_METRICS."""

from __future__ import annotations

from typing import Any

from stockpipe.config import Settings
from stockpipe.metrics.base import METRICS, NAMESPACE, Metrics
from stockpipe.metrics.local import LocalMetrics, read_metrics_file
from stockpipe.metrics.stage import StageMetrics


def stream_dimension(settings: Settings) -> str:
    """The `stream` dimension: the Kinesis stream name, or "local" for the embedded one."""
    return settings.kinesis_stream_name if settings.stream == "kinesis" else "local"


def get_metrics(settings: Settings) -> Metrics:
    if settings.metrics == "cloudwatch":
        from stockpipe.aws.session import client
        from stockpipe.metrics.cloudwatch import CloudWatchMetrics
        from stockpipe.metrics.mirror import MirroredMetrics

        cloudwatch = CloudWatchMetrics(
            client("cloudwatch", settings.aws_region), stream_dimension(settings)
        )
        # Mirrored locally, so `status` and the health panel see the running stages.
        return MirroredMetrics(
            cloudwatch, LocalMetrics(settings.state_dir, stream_dimension(settings))
        )
    return LocalMetrics(settings.state_dir, stream_dimension(settings))


def stage_metrics(settings: Settings, stage: str) -> StageMetrics:
    """The metric callback of one stage on the configured backend; it flushes at each
    checkpoint and while idle, and `close()` flushes what is left."""
    return StageMetrics(get_metrics(settings), stage, stream_dimension(settings))


def read_local_metrics(settings: Settings) -> dict[str, Any]:
    """What the local file recorded (either backend), for `stockpipe status` and the dashboard.

    {"stages": {stage: {metric: {"unit", "total", "count", "last", "max", "stream",
    "updated_at"}}}, "updated_at": ...}; {"stages": {}} when nothing was recorded yet.
    """
    return read_metrics_file(settings.state_dir)


__all__ = [
    "METRICS",
    "NAMESPACE",
    "LocalMetrics",
    "Metrics",
    "StageMetrics",
    "get_metrics",
    "read_local_metrics",
    "stage_metrics",
    "stream_dimension",
]
