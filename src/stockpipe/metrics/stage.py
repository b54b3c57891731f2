"""What a running stage holds: a metric callback that flushes on the stage's rhythm.

Before issue 18 metrics were flushed only when a stage exited, so during `stockpipe run`
or `--follow` nothing reached CloudWatch or `state/metrics.json`: alarms saw no data
and the health panel stayed stale. `StageMetrics` fixes the rhythm:

- `checkpoint()` after every durable step (a consumer commit, an ingest PutRecords):
  flushes, at most once per `metrics.checkpoint_interval` (0 s locally, 10 s on
  CloudWatch, where every call is billed);
- `idle(lag_ms)` from an idle loop: flushes what is buffered once `interval` (10 s) has
  passed, and every `metrics.heartbeat_interval` records a ProcessingLagMs sample, so a
  quiet but healthy consumer still looks alive;
- a flush that fails while the stage runs is logged once and retried at the next
  opportunity (the buffer is bounded); only `close()` raises, as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from stockpipe.errors import StockpipeError
from stockpipe.metrics.base import FLUSH_INTERVAL_S, Metrics

log = logging.getLogger("stockpipe.metrics")


class StageMetrics:
    """Callable as `metric(name, value, unit)`; `checkpoint()`, `idle()`, `close()`."""

    def __init__(
        self,
        metrics: Metrics,
        stage: str,
        stream: str | None = None,
        interval: float = FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.stage = stage
        self.stream = stream
        self.interval = interval
        self._clock = clock
        self._last_flush: float | None = None
        self._last_heartbeat: float | None = None
        self._failing = False

    def __call__(self, name: str, value: float, unit: str = "Count") -> None:
        self.metrics.put(name, value, unit, stage=self.stage, stream=self.stream)

    def _due(self, last: float | None, every: float) -> bool:
        return last is None or self._clock() - last >= every

    def flush(self) -> bool:
        """Flush now; False (logged once per outage) when the backend refused."""
        self._last_flush = self._clock()
        try:
            self.metrics.flush()
        except StockpipeError as exc:
            if not self._failing:
                log.warning("%s: metrics not flushed, will retry: %s", self.stage, exc)
            self._failing = True
            return False
        self._failing = False
        return True

    def checkpoint(self) -> None:
        """The stage made its output durable: its metrics follow."""
        if self._due(self._last_flush, self.metrics.checkpoint_interval):
            self.flush()

    def idle(self, lag_ms: float | None = None) -> None:
        """Called while nothing arrives: heartbeat and flush, at most every interval."""
        if lag_ms is not None and self._due(self._last_heartbeat, self.metrics.heartbeat_interval):
            self._last_heartbeat = self._clock()
            self("ProcessingLagMs", lag_ms, "Milliseconds")
        if self.metrics.pending and self._due(self._last_flush, self.interval):
            self.flush()

    def close(self) -> None:
        self.metrics.close()
