"""The source contract: market data in, canonical stream payloads out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

# (partition key, payload bytes): what a producer hands to Stream.put_records.
Payload = tuple[str, bytes]


@dataclass(frozen=True)
class Retry:
    """Yielded by a polling source instead of a batch: "ask me again after `after`".

    The stage loop that drives the source does the waiting, and a stop cuts it short, so a
    source never sleeps in its own loop (bytewax's `Retry`).
    """

    after: timedelta

    @property
    def seconds(self) -> float:
        return max(self.after.total_seconds(), 0.0)


@dataclass
class FaultReport:
    """What the simulator injected, so tests can check the cleaning stage's counts."""

    duplicates: int = 0
    out_of_order: int = 0
    malformed: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class SourceStats:
    """What a source sent and what went wrong on the way: the CLI's summary reads only this."""

    bars: int = 0
    payloads: int = 0
    faults: FaultReport | None = None  # injected on purpose (the simulator's --fault-rate)
    symbol_errors: dict[str, str] = field(default_factory=dict)  # symbol -> why it was skipped
    gap_notes: list[str] = field(default_factory=list)  # gaps the source could not fill
    extra: dict[str, int] = field(default_factory=dict)  # counters of one kind of source


class Source(ABC):
    """Produces payloads in batches; each yielded batch is sent to the stream at once.

    A live source returns when `stop()` is called. Between batches it either blocks (a
    websocket, the simulator's clock) or, when polling, yields a `Retry` for the caller to
    wait out.
    """

    name: str

    def __init__(self) -> None:
        self.stats = SourceStats()
        self._stopped = False

    @abstractmethod
    def batches(self) -> Iterator[list[Payload] | Retry]: ...

    def stop(self) -> None:
        self._stopped = True

    @property
    def stopped(self) -> bool:
        return self._stopped
