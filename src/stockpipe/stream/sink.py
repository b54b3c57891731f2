"""The sink contract: where a consumer's records go, shaped after quix-streams' sinks.

A stage hands each polled batch to its sink with `add`, then calls `flush`, which makes
everything added durable and returns the state to commit with the positions (or None).
Only after `flush` returns does the checkpoint move, so a flush that raises commits
nothing: the records are read again, from the checkpoint, by the next attempt. A sink
keeps what was added until a flush succeeds, so a flush may simply be called again.

A sink may also have `idle()`, which the stage calls when a poll found nothing new (the
`Processor` compacts there, between live batches); it is optional, so it is not part of
the protocol below.

`BackPressure` is the one error a sink raises to say "not now": the stage commits nothing,
waits `retry_after` seconds and flushes the same records again (`pipeline/stages.py`
`run_consumer`). Implementations: `lake/raw.py` `RawArchiver` (the raw zone) and
`processing/engine.py` `Processor` (the processed zone).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from stockpipe.errors import StockpipeError
from stockpipe.stream.base import StreamRecord


class BackPressure(StockpipeError):
    """The sink cannot take more now: flush again after `retry_after` seconds."""

    transient = True

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(0.0, float(retry_after))


class Sink(Protocol):
    def add(self, records: Sequence[StreamRecord]) -> None:
        """Take records to write at the next flush (nothing needs to be durable yet)."""
        ...

    def flush(self) -> Mapping[str, Any] | None:
        """Make everything added durable; the state to commit with it, or None for none.

        Raising (`BackPressure` or any other error) means nothing is durable for sure and
        nothing is committed; what was added is kept for the next flush.
        """
        ...
