"""What one stage works with, opened from the settings: the stream, the lake, its metrics.

`stockpipe ingest | archive | process` and each stage process of `stockpipe run` open the
same three things the same way, and close them in the same order: the metrics are flushed
before the stream is closed (a Kinesis stream flushes its own retry counter on close).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from stockpipe.config import Settings
from stockpipe.lake import Lake, open_lake
from stockpipe.metrics import StageMetrics, stage_metrics
from stockpipe.stream import Stream, open_stream


@dataclass(frozen=True, slots=True)
class StageBackends:
    stream: Stream
    lake: Lake
    metric: StageMetrics


@contextlib.contextmanager
def open_stage(settings: Settings, stage: str) -> Iterator[StageBackends]:
    """The backends of `stage` named by the settings; closed when the block ends."""
    stream, lake = open_stream(settings), open_lake(settings.lake_location)
    metric = stage_metrics(settings, stage)
    try:
        yield StageBackends(stream, lake, metric)
    finally:
        try:
            metric.metrics.flush()
        finally:
            stream.close()
