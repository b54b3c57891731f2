"""The ingest stage waits out a polling source's `Retry`, and a stop cuts the wait short."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from stockpipe.pipeline.stages import run_ingest
from stockpipe.sources.base import Payload, Retry, Source


class Poller(Source):
    """One batch, a Retry, another batch: the shape of a polling source."""

    name = "poller"

    def __init__(self, wait: timedelta) -> None:
        super().__init__()
        self.wait = wait
        self.resumed_at: float | None = None

    def batches(self) -> Iterator[list[Payload] | Retry]:
        yield [("AAPL", b"1")]
        yield Retry(self.wait)
        self.resumed_at = time.monotonic()
        yield [("AAPL", b"2"), ("MSFT", b"3")]


class ListStream:
    def __init__(self) -> None:
        self.records: list[Any] = []

    def put_records(self, records: list[Any]) -> None:
        self.records += records


def test_retry_is_waited_out_then_polling_goes_on() -> None:
    source, stream = Poller(timedelta(seconds=0.3)), ListStream()
    started = time.monotonic()
    result = run_ingest(source, stream)  # type: ignore[arg-type]
    assert source.resumed_at is not None and source.resumed_at - started >= 0.3
    assert (result.records, result.batches) == (3, 2)  # a Retry is not a batch
    assert [key for key, _ in stream.records] == ["AAPL", "AAPL", "MSFT"]


def test_stop_cuts_a_retry_short() -> None:
    source, stream = Poller(timedelta(hours=1)), ListStream()
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    result = run_ingest(source, stream, stop)  # type: ignore[arg-type]
    assert time.monotonic() - started < 30  # not the hour the source asked for
    assert source.stopped and source.resumed_at is None
    assert (result.records, result.batches) == (1, 1)
