"""WebsocketSource: a live feed (Alpaca or Finnhub) -> canonical 1min bar payloads.

- channel "trades": trades go through the `TradeAggregator` (exact bars, watermarks,
  late corrections); channel "bars" (Alpaca only): the provider's minute bars go straight
  to the stream, and `updatedBars` become corrected versions of the same key.
- A message that cannot be used is not dropped: it goes to the stream wrapped as
  {"source", "rejected": reason, "detail", "raw"}, which the processing stage puts in
  quarantine (reason source_rejected, detail "<the source's code>: <detail>").
- Gaps: when the connection drops (or the source restarts), the minutes from the last
  event to the reconnect are fetched from the provider's REST bars once they are closed.
  A filled minute is sealed: trades for it that arrive later are already in the REST bar.
  When the plan has no REST access the source says so (log + `gap_notes`) and goes on.
- Restart: the state file holds the aggregator (open and recently closed bars, trade
  IDs, watermark), the last event time and the recently sent provider bars. It is saved
  only after the stream has accepted a batch (the generator resumes only then, or the
  stage calls `stop()` after its last put), so what the state counts is exactly what is
  in the stream plus the open bars. A crash between a put and the save resends those bars
  with the same values (the processing stage keeps one version per key) and the trades
  received since the save are covered by the REST fill of the restart gap.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from stockpipe.contract import SCHEMA_VERSION, SYMBOL_RE
from stockpipe.errors import ConfigError, SourceError
from stockpipe.records import format_ts
from stockpipe.sources.base import Payload, Source
from stockpipe.sources.websocket.aggregate import AggBar, TradeAggregator
from stockpipe.sources.websocket.base import (
    NS_PER_MINUTE,
    Feed,
    GapFiller,
    GapFillUnavailable,
    Heartbeat,
    ProviderBar,
    Rejected,
    Subscription,
    Trade,
    minute_of,
    ns_to_datetime,
    redact,
)
from stockpipe.sources.websocket.connection import FeedConnection, Message

log = logging.getLogger("stockpipe.sources.websocket")

STATE_VERSION = 1
RECENT_BARS_S = 2 * 3600  # provider bars remembered to drop identical re-sends
MAX_GAP_MINUTES = 24 * 60  # a longer outage is filled for its last day only
CHANNELS = ("trades", "bars")


class WebsocketSource(Source):
    def __init__(
        self,
        feed: Feed,
        symbols: Sequence[str],
        state_dir: Path,
        channel: str = "trades",
        filler: GapFiller | None = None,
        lateness_s: float = 2.0,
        horizon_s: float = 600.0,
        stall_s: float = 90.0,
        heartbeat_s: float = 0.2,
        backoff_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        limit_retries: int = 5,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        syms = list(dict.fromkeys(symbols))
        if not syms:
            raise ConfigError(f"--source {feed.name} needs at least one symbol: use --symbols")
        for sym in syms:
            if not SYMBOL_RE.match(sym):
                raise ConfigError(f"symbol {sym!r} is invalid: use A-Z, 0-9, '.' and '-'")
        if channel not in CHANNELS:
            raise ConfigError(f"--channel {channel!r} is invalid: use trades or bars")
        if lateness_s < 0 or lateness_s > 3600:
            raise ConfigError(f"--lateness {lateness_s} is out of range: use 0-3600 seconds")
        if stall_s <= 0:
            raise ConfigError(f"--stall-timeout {stall_s} must be a positive number of seconds")
        self.name = feed.name
        self.feed = feed
        self.symbols = syms
        self.channel = channel
        self.filler = filler
        self.lateness_s = lateness_s
        self.heartbeat_s = heartbeat_s
        self.state_path = state_dir / f"{feed.name}-{channel}.json"
        self.agg = TradeAggregator(lateness_s, horizon_s)
        self.recent: dict[tuple[str, str], list[Any]] = {}
        self.last_event_ns: int | None = None
        self.gap_notes = self.stats.gap_notes
        self._gap_start_ns: int | None = None
        self._gaps: list[tuple[int, int]] = []
        self._clock = clock
        self._wall = wall
        self._queue: queue.Queue[Message] = queue.Queue()
        self._conn = FeedConnection(
            feed,
            Subscription(syms, channel),
            self._queue,
            stall_s=stall_s,
            backoff_s=backoff_s,
            backoff_cap_s=backoff_cap_s,
            limit_retries=limit_retries,
        )
        self.stats.extra.update(
            {
                "trades": 0,
                "rejected": 0,
                "corrections": 0,
                "connects": 0,
                "disconnects": 0,
                "heartbeats": 0,
                "gap_minutes_filled": 0,
                "gap_bars_filled": 0,
                "gap_minutes_unfilled": 0,
                "duplicate_bars": 0,
            }
        )

    # -- state ----------------------------------------------------------------------

    def _load(self) -> None:
        try:
            doc = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise SourceError(
                f"websocket state {self.state_path} is unreadable ({exc}); delete it to start "
                "over (open bars are then lost, and the gap is not filled)"
            ) from None
        try:
            if doc.get("version") != STATE_VERSION:
                raise ValueError(f"version {doc.get('version')!r}")
            self.agg.load_state(doc["aggregator"], self._clock())
            self.last_event_ns = doc["last_event_ns"]
            self.recent = {(s, t): v for s, t, v in doc["recent"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceError(
                f"websocket state {self.state_path} is invalid ({exc}); delete it to start over"
            ) from None
        if self.last_event_ns is not None:
            # The restart is an outage like any other: fill it once reconnected.
            self._gap_start_ns = minute_of(self.last_event_ns)

    def _save(self) -> None:
        doc = {
            "version": STATE_VERSION,
            "feed": self.name,
            "channel": self.channel,
            "last_event": format_ts(ns_to_datetime(self.last_event_ns))
            if self.last_event_ns is not None
            else None,
            "last_event_ns": self.last_event_ns,
            "aggregator": self.agg.to_state(),
            "recent": [[s, t, v] for (s, t), v in sorted(self.recent.items())],
        }
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(f".tmp-{self.state_path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(doc, separators=(",", ":")))
        os.replace(tmp, self.state_path)

    # -- the loop -------------------------------------------------------------------

    def batches(self) -> Iterator[list[Payload]]:
        self._load()
        self._conn.start()
        dirty = False
        last_save = self._clock()
        try:
            while not self.stopped:
                payloads, changed = self._step()
                dirty = dirty or changed
                self.stats.payloads += len(payloads)
                yield payloads
                # Reached only once the stream accepted the batch.
                now = self._clock()
                if payloads or (dirty and now - last_save >= 1.0):
                    self._save()
                    dirty, last_save = False, now
        finally:
            self._conn.stop()
            if self.filler is not None:
                self.filler.close()

    def stop(self) -> None:
        """Called by the ingest stage, in the thread that iterates `batches()`, after the
        stream accepted the last batch: so the state saved here matches the stream."""
        super().stop()
        self._save()

    def _step(self) -> tuple[list[Payload], bool]:
        """Wait up to one heartbeat for feed messages; return payloads and whether the
        state changed."""
        payloads: list[Payload] = []
        changed = False
        deadline = self._clock() + self.heartbeat_s
        # Bounded by time, not by an empty queue: a feed faster than this loop must not
        # keep it from emitting bars or from seeing a stop.
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            try:
                msg = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            changed = self._handle(msg, payloads) or changed
            if len(payloads) >= 5000:
                break
        now = self._clock()
        for bar in self.agg.poll(now):
            payloads.append(self._agg_payload(bar))
        if self._gaps:
            changed = self._fill(payloads) or changed
        return payloads, changed

    def _handle(self, msg: Message, out: list[Payload]) -> bool:
        kind, payload, at = msg
        if kind == "fatal":
            raise payload
        if kind == "connected":
            self.stats.extra["connects"] += 1
            if self._gap_start_ns is not None:
                reconnect = minute_of(int(at * 1e9))
                last = reconnect if self.channel == "trades" else reconnect - NS_PER_MINUTE
                first = max(self._gap_start_ns, last - (MAX_GAP_MINUTES - 1) * NS_PER_MINUTE)
                if last >= first:
                    self._gaps.append((first, last))
                self._gap_start_ns = None
            return False
        if kind == "disconnected":
            self.stats.extra["disconnects"] += 1
            if self._gap_start_ns is None:
                start = self.last_event_ns if self.last_event_ns is not None else int(at * 1e9)
                self._gap_start_ns = minute_of(start)
            return False
        changed = False
        now = self._clock()
        for ev in payload:
            if isinstance(ev, Trade):
                rejected = self.agg.add(ev, now)
                self.stats.extra["trades"] += 1
                self.last_event_ns = max(self.last_event_ns or 0, ev.t_ns)
                changed = True
                if rejected is not None:
                    raw = json.dumps(
                        {"S": ev.symbol, "t_ns": ev.t_ns, "p": str(ev.price), "s": str(ev.size)}
                    )
                    out.append(self._rejected(Rejected(rejected.reason, rejected.detail, raw)))
            elif isinstance(ev, ProviderBar):
                end = int(ev.ts.timestamp()) * 1_000_000_000 + NS_PER_MINUTE
                self.last_event_ns = max(self.last_event_ns or 0, end)
                changed = self._provider_bar(ev, out) or changed
            elif isinstance(ev, Rejected):
                out.append(self._rejected(ev))
            elif isinstance(ev, Heartbeat):
                self.stats.extra["heartbeats"] += 1
        return changed

    # -- payloads -------------------------------------------------------------------

    def _agg_payload(self, bar: AggBar) -> Payload:
        self.stats.bars += 1
        if bar.version > 1:
            self.stats.extra["corrections"] += 1
        return bar.symbol, json.dumps(bar.to_dict(self.name), separators=(",", ":")).encode()

    def _provider_bar(self, bar: ProviderBar, out: list[Payload]) -> bool:
        """A provider bar on the bars channel: send it unless it is an identical re-send."""
        ts = format_ts(bar.ts)
        values = [bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trade_count, bar.vwap]
        if self.recent.get((bar.symbol, ts)) == values:
            self.stats.extra["duplicate_bars"] += 1
            return False
        corrected = (bar.symbol, ts) in self.recent
        self.recent[(bar.symbol, ts)] = values
        horizon = format_ts(bar.ts - timedelta(seconds=RECENT_BARS_S))
        if len(self.recent) > 4 * len(self.symbols) * RECENT_BARS_S // 60:
            self.recent = {k: v for k, v in self.recent.items() if k[1] >= horizon}
        doc = {
            "schema_version": SCHEMA_VERSION,
            "symbol": bar.symbol,
            "interval": "1min",
            "ts": ts,
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "volume": bar.volume,
            "source": self.name,
            "trade_count": bar.trade_count,
            "vwap": bar.vwap,
        }
        self.stats.bars += 1
        self.stats.extra["corrections"] += corrected
        out.append((bar.symbol, json.dumps(doc, separators=(",", ":")).encode()))
        return True

    def _rejected(self, ev: Rejected) -> Payload:
        self.stats.extra["rejected"] += 1
        doc = {
            "source": self.name,
            "rejected": ev.reason,
            "detail": redact(ev.detail, self.feed.secrets),
            "raw": redact(ev.raw[:4000], self.feed.secrets),
        }
        log.warning("%s: quarantined a message (%s: %s)", self.name, ev.reason, doc["detail"])
        return f"{self.name}-rejected", json.dumps(doc).encode()

    # -- gaps -----------------------------------------------------------------------

    def _fill(self, out: list[Payload]) -> bool:
        """Fetch the gaps whose minutes are all closed; True if any bar was applied."""
        now_ns = int(self._wall() * 1e9)
        lateness_ns = int(self.lateness_s * 1e9)
        due = [g for g in self._gaps if g[1] + NS_PER_MINUTE + lateness_ns <= now_ns]
        if not due:
            return False
        self._gaps = [g for g in self._gaps if g not in due]
        applied = False
        for first, last in due:
            minutes = (last - first) // NS_PER_MINUTE + 1
            span = f"{format_ts(ns_to_datetime(first))} .. {format_ts(ns_to_datetime(last))}"
            if self.filler is None:
                self._unfilled(minutes, f"{self.name} has no REST bars configured ({span})")
                continue
            try:
                bars = self.filler.bars(self.symbols, ns_to_datetime(first), ns_to_datetime(last))
            except GapFillUnavailable as exc:
                self._unfilled(minutes, f"cannot fill the gap {span} from REST: {exc}")
                continue
            self.stats.extra["gap_minutes_filled"] += minutes
            self.stats.extra["gap_bars_filled"] += len(bars)
            log.warning("%s: filled %d bars of the gap %s from REST", self.name, len(bars), span)
            for bar in bars:
                if bar.symbol not in self.symbols:
                    continue
                if self.channel == "trades":
                    self.agg.replace(bar)
                else:
                    self._provider_bar(bar, out)
                applied = True
        if applied and self.channel == "trades":
            out.extend(self._agg_payload(b) for b in self.agg.poll(self._clock()))
        return applied

    def _unfilled(self, minutes: int, note: str) -> None:
        self.stats.extra["gap_minutes_unfilled"] += minutes
        self.gap_notes.append(note)
        log.warning("%s: %s", self.name, note)
