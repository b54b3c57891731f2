"""Resuming `stockpipe run`: what is already held, and a source that records what it sent.

A restart must not replay: for each symbol, the last bar already held is the later of
- the last bar in the lake (`processed-data/bars/`), and
- the producer mark `_checkpoints/producers/<source>.json`: the last bar per symbol the
  ingest stage has put into the stream, saved after each put succeeded. It covers what the
  stream holds but the process stage has not reached yet.

The mark is saved after the put, so a crash between the two re-sends at most the last
second's batches; processing drops those as duplicates. Nothing is ever skipped that was
not sent.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from stockpipe.contract import BARS
from stockpipe.lake import manifest
from stockpipe.lake.base import Lake, safe_relpath
from stockpipe.records import format_ts, parse_ts
from stockpipe.sources.base import Payload, Retry, Source

MARK_EVERY = 1.0  # seconds between producer-mark saves while batches flow


def mark_path(source: str) -> str:
    return safe_relpath(f"_checkpoints/producers/{source}.json")


def load_mark(lake: Lake, source: str) -> dict[str, datetime]:
    try:
        doc = json.loads(lake.read_bytes(mark_path(source)))
    except FileNotFoundError:
        return {}
    except ValueError:
        return {}  # a damaged mark only costs duplicates, which processing drops
    out: dict[str, datetime] = {}
    for sym, text in (doc.get("last") or {}).items():
        try:
            out[str(sym)] = parse_ts(str(text))
        except ValueError:
            continue
    return out


def save_mark(lake: Lake, source: str, last: dict[str, datetime]) -> None:
    doc = {"source": source, "last": {s: format_ts(t) for s, t in sorted(last.items())}}
    lake.write_bytes(mark_path(source), json.dumps(doc, indent=1).encode())


def lake_last_bars(lake: Lake, symbols: list[str]) -> dict[str, datetime]:
    """The last bar's time per symbol in the lake, reading the newest partitions first."""
    by_dt = manifest.live_files(lake, BARS.prefix)  # the files a reader reads, by date
    wanted = set(symbols)
    found: dict[str, datetime] = {}
    for dt in sorted(by_dt, reverse=True):
        for path in by_dt[dt]:
            table = pq.read_table(io.BytesIO(lake.read_bytes(path)), columns=["symbol", "ts"])
            for sym in wanted - set(found):
                rows = table.filter(pc.equal(table["symbol"], sym))
                if rows.num_rows:
                    last = pc.max(rows["ts"]).as_py()
                    if sym not in found or last > found[sym]:
                        found[sym] = last
        if wanted <= set(found):
            break  # every symbol's last bar lies in a newer partition than the rest
    return found


def resume_points(lake: Lake, source: str, symbols: list[str]) -> dict[str, datetime]:
    """Per symbol, the last bar already held (lake or stream); absent symbols start fresh."""
    held = lake_last_bars(lake, symbols)
    for sym, ts in load_mark(lake, source).items():
        if sym in symbols and (sym not in held or ts > held[sym]):
            held[sym] = ts
    return held


def _last_per_symbol(batch: list[Payload], into: dict[str, datetime]) -> None:
    for _, data in batch:
        try:
            doc = json.loads(data)
            sym, ts = str(doc["symbol"]), parse_ts(str(doc["ts"]))
        except (ValueError, KeyError, TypeError):
            continue  # a malformed payload (an injected fault) marks nothing
        if sym not in into or ts > into[sym]:
            into[sym] = ts


class MarkedSource(Source):
    """Wraps a source: once a batch is put (the next one is asked for), marks it as sent.

    `on_progress` is called after each put with the inner source, so the caller can
    publish the phase and clock.
    """

    def __init__(
        self,
        inner: Source,
        lake: Lake,
        on_progress: Callable[[Source], None] | None = None,
        start: dict[str, datetime] | None = None,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.name = inner.name
        self.stats = inner.stats
        self.lake = lake
        self.on_progress = on_progress
        self.last: dict[str, datetime] = dict(start or {})
        self._saved_at = 0.0
        self._dirty = False
        self._in_hand: list[Payload] | None = None  # yielded, not yet known to be put
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # faults, fault_rate, symbol_errors... of the inner source, for the CLI's summary.
        if name == "inner":  # not set yet (during __init__): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def batches(self) -> Iterator[list[Payload] | Retry]:
        try:
            for batch in self.inner.batches():
                if isinstance(batch, Retry):
                    yield batch  # the batch before it, if any, is already marked
                    continue
                self._in_hand = batch
                yield batch
                # Asked for the next batch: the previous one is in the stream now.
                self._sent()
                if time.monotonic() - self._saved_at >= MARK_EVERY:
                    self.save()
        finally:
            self.save()

    def _sent(self) -> None:
        with self._lock:
            if self._in_hand is not None:
                _last_per_symbol(self._in_hand, self.last)
                self._in_hand = None
                self._dirty = True

    def save(self) -> None:
        with self._lock:
            if self._dirty:
                save_mark(self.lake, self.name, self.last)
                self._dirty = False
            self._saved_at = time.monotonic()
        if self.on_progress is not None:
            self.on_progress(self.inner)

    def stop(self) -> None:
        # The ingest loop stops only after the batch in hand is put: mark it too, so a
        # clean stop re-sends nothing.
        self._sent()
        self.save()
        super().stop()
        self.inner.stop()
