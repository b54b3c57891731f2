"""`TestingSource`: given bars or payloads in, the same payloads out, in batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from stockpipe.errors import SourceError
from stockpipe.records import Bar
from stockpipe.sources.base import Payload, Source


class TestingSource(Source):
    """Yields `items` (bars, sent as `(symbol, JSON)`, or ready payloads) in batches of
    `batch_size`, like bytewax's `TestingSource`.

    `raise_after=n` raises `error` once the first `n` payloads have been yielded (all of
    them, if there are fewer), as a real source fails mid-run, so a test can check what a
    failure leaves behind. `stop()` ends the batches after the one in hand.
    """

    __test__ = False  # a library class, not a test class for pytest to collect
    name = "testing"

    def __init__(
        self,
        items: Iterable[Bar | Payload],
        batch_size: int = 100,
        *,
        raise_after: int | None = None,
        error: Exception | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.payloads: list[Payload] = [_payload(item) for item in items]
        self.batch_size = batch_size
        self.raise_after = raise_after
        self.error = error or SourceError(f"TestingSource failed after {raise_after} payloads")

    def batches(self) -> Iterator[list[Payload]]:
        end = len(self.payloads) if self.raise_after is None else self.raise_after
        for start in range(0, min(end, len(self.payloads)), self.batch_size):
            if self.stopped:
                return
            batch = self.payloads[start : min(start + self.batch_size, end)]
            self.stats.payloads += len(batch)
            yield batch
        if self.raise_after is not None and not self.stopped:
            raise self.error


def _payload(item: Bar | Payload) -> Payload:
    if isinstance(item, Bar):
        return (item.partition_key, item.to_json())
    return item
