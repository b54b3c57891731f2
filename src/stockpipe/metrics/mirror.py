"""CloudWatch metrics, mirrored into the local metrics file.

`stockpipe status` and the dashboard's health panel read `state/metrics.json`. With
`STOCKPIPE_METRICS=cloudwatch` nothing wrote that file, so on AWS both showed `n/a`
while the stages ran. The mirror keeps the same datums locally (free, no CloudWatch
read), flushed on CloudWatch's rhythm. Each side keeps its own buffer, so a CloudWatch
outage never double-counts the local file when the datums are retried.
"""

from __future__ import annotations

from typing import Any

from stockpipe.errors import StockpipeError
from stockpipe.metrics.base import Datum, Metrics


class MirroredMetrics(Metrics):
    def __init__(self, primary: Metrics, mirror: Metrics) -> None:
        super().__init__(primary.default_stream)
        self.primary = primary
        self.mirror = mirror
        self.checkpoint_interval = primary.checkpoint_interval
        self.heartbeat_interval = primary.heartbeat_interval

    def put(
        self,
        name: str,
        value: float,
        unit: str = "Count",
        *,
        stage: str,
        stream: str | None = None,
    ) -> None:
        self.primary.put(name, value, unit, stage=stage, stream=stream)
        self.mirror.put(name, value, unit, stage=stage, stream=stream)

    @property
    def pending(self) -> int:
        return max(self.primary.pending, self.mirror.pending)

    def flush(self) -> None:
        # The local file first: it must not wait for (or fail with) CloudWatch.
        failure: StockpipeError | None = None
        for side in (self.mirror, self.primary):
            try:
                side.flush()
            except StockpipeError as exc:
                failure = exc
        if failure is not None:
            raise failure

    def read(self) -> dict[str, Any]:
        """The local mirror: free and current, where reading CloudWatch is billed."""
        return self.mirror.read()

    def _send(self, pending: list[Datum]) -> None:  # pragma: no cover - flush() delegates
        raise NotImplementedError
