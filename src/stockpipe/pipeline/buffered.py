"""Batching a consumer's polls by size or time, for the raw zone's live writes.

Live mode polls a few records at a time; writing each poll as raw files made about 4
files a second of 2-3 records each. `BufferedConsumer` holds polled records in memory
and hands them over as one batch once they reach `max_bytes` or are `max_seconds` old,
whichever comes first (and at once when a shard ends). Outside follow mode (a one-shot
`stockpipe archive` catching up) every poll is a batch, as before.

Exactly-once is unchanged: the checkpoint still advances only after the batch's files
are durable, so a crash loses at most the in-memory buffer, which is re-read from the
checkpoint. A raw file is named after the first record of its (shard, hour) run; the
first record after a checkpoint, and the first record of an hour, start a run however
the re-read is split, so every file left by the crashed attempt is rewritten with a run
that starts at the same record, and no record ends up in two files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stockpipe.stream.consumer import Batch, Consumer

RAW_BATCH_BYTES = 1_000_000
RAW_BATCH_SECONDS = 5.0


class BufferedConsumer:
    """A `Consumer` whose `poll` returns batches of at least `max_bytes` or `max_seconds`."""

    def __init__(
        self,
        consumer: Consumer,
        max_bytes: int = RAW_BATCH_BYTES,
        max_seconds: float = RAW_BATCH_SECONDS,
        *,
        follow: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = consumer
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.follow = follow
        self._clock = clock
        self._records: list[Any] = []
        self._positions: dict[str, str] = {}
        self._finished: list[str] = []
        self._bytes = 0
        self._since: float | None = None

    @property
    def buffered(self) -> int:
        return len(self._records)

    @property
    def caught_up(self) -> bool:
        return self.inner.caught_up and not self._records and not self._finished

    @property
    def state(self) -> dict[str, Any]:
        return self.inner.state

    @property
    def millis_behind(self) -> int:
        return self.inner.millis_behind

    def _due(self) -> bool:
        if not self._records and not self._finished:
            return False
        if self._finished or self._bytes >= self.max_bytes:
            return True
        if not self.follow:
            return True  # a one-shot catch-up writes each poll, as before: no waiting
        return self._since is not None and self._clock() - self._since >= self.max_seconds

    def poll(self, max_records: int = 10000) -> Batch:
        batch = self.inner.poll(max_records)
        if batch.records and self._since is None:
            self._since = self._clock()
        self._records.extend(batch.records)
        self._bytes += sum(len(r.data) for r in batch.records)
        self._positions.update(batch.positions)
        self._finished.extend(s for s in batch.finished if s not in self._finished)
        return self.drain() if self._due() else Batch([], {}, [])

    def drain(self) -> Batch:
        """Everything buffered, as one batch (empty if nothing is)."""
        out = Batch(self._records, self._positions, self._finished)
        self._records, self._positions, self._finished = [], {}, []
        self._bytes, self._since = 0, None
        return out

    def commit(self, batch: Batch, state: dict[str, Any] | None = None) -> None:
        self.inner.commit(batch, state)
