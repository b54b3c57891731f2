"""The source contract: market data in, canonical stream payloads out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

# (partition key, payload bytes): what a producer hands to Stream.put_records.
Payload = tuple[str, bytes]


@dataclass
class SourceStats:
    bars: int = 0
    payloads: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Source(ABC):
    """Produces payloads in batches; each yielded batch is sent to the stream at once.

    A live source blocks between batches and returns when `stop()` is called.
    """

    name: str

    def __init__(self) -> None:
        self.stats = SourceStats()
        self._stopped = False

    @abstractmethod
    def batches(self) -> Iterator[list[Payload]]: ...

    def stop(self) -> None:
        self._stopped = True

    @property
    def stopped(self) -> bool:
        return self._stopped
