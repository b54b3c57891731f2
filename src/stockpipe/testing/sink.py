"""`ListSink`: what a sink was given, kept in lists a test can assert on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ListSink(Generic[T]):
    """A sink in quix-streams' shape, `add(records)` then `flush()` at each checkpoint, that
    keeps everything in memory (bytewax's `TestingSink`).

    `added` holds what `add` was given since the last flush; `flush()` moves it to `items`,
    the durable part, and counts in `flushes`. With `fail_flush=error` every flush raises
    it and keeps nothing, as a failed write must abort its checkpoint.
    """

    def __init__(self, fail_flush: Exception | None = None) -> None:
        self.items: list[T] = []
        self.added: list[T] = []
        self.flushes = 0
        self.fail_flush = fail_flush

    def add(self, records: Iterable[T]) -> None:
        self.added.extend(records)

    def flush(self) -> Mapping[str, Any] | None:
        if self.fail_flush is not None:
            self.added.clear()
            raise self.fail_flush
        self.items.extend(self.added)
        self.added.clear()
        self.flushes += 1
        return None
