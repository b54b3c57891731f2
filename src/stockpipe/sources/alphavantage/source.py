"""AlphaVantageSource: poll TIME_SERIES_INTRADAY and emit each bar exactly once.

What has been emitted is stored per (symbol, interval) as the time ranges already covered.
A response is a contiguous window of the series, so after it is sent its whole
[first, last] range is covered; the next, overlapping poll emits only later bars, and a
restart does not resend. The state is saved after the stream has accepted the batch (the
generator resumes only then), so a crash in between resends at most one batch, which the
processing stage deduplicates by (symbol, interval, ts).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stockpipe.contract import INTERVAL_SECONDS, SYMBOL_RE
from stockpipe.errors import ConfigError, SourceError
from stockpipe.records import format_ts, parse_ts
from stockpipe.sources.alphavantage.budget import BudgetExhaustedError
from stockpipe.sources.alphavantage.client import (
    DATATYPES,
    EXCHANGE_TZ,
    INTRADAY_INTERVALS,
    OUTPUT_SIZES,
    AlphaVantageClient,
    BurstLimitError,
    InvalidKeyError,
    PremiumEndpointError,
    RateLimitError,
    Series,
    SymbolError,
    TransportError,
    check_month,
)
from stockpipe.sources.base import Payload, Retry, Source

log = logging.getLogger("stockpipe.sources.alphavantage")

# Errors that would fail every symbol alike: they end the ingest instead of skipping one.
_TERMINAL = (
    InvalidKeyError,
    PremiumEndpointError,
    RateLimitError,
    TransportError,
    BudgetExhaustedError,
)
MAX_BURST_RETRIES = 5


class EmittedLog:
    """The ranges of bar starts already emitted for one (symbol, interval), on disk."""

    def __init__(self, state_dir: Path, symbol: str, interval: str) -> None:
        if not SYMBOL_RE.fullmatch(symbol) or interval not in INTERVAL_SECONDS:
            raise ConfigError(f"cannot keep state for symbol {symbol!r} interval {interval!r}")
        self.path = state_dir / "emitted" / f"{symbol}-{interval}.json"
        self.step = timedelta(seconds=INTERVAL_SECONDS[interval])
        self.ranges: list[tuple[datetime, datetime]] = []
        try:
            doc = json.loads(self.path.read_text())
            self.ranges = [(parse_ts(a), parse_ts(b)) for a, b in doc["ranges"]]
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SourceError(
                f"emitted-bars state {self.path} is unreadable ({exc}); delete it to start "
                "over (already-sent bars may then be sent again, and deduplicated downstream)"
            ) from None

    def seen(self, ts: datetime) -> bool:
        return any(a <= ts <= b for a, b in self.ranges)

    def add(self, first: datetime, last: datetime) -> None:
        """Cover [first, last], merging ranges that overlap or touch."""
        merged: list[tuple[datetime, datetime]] = []
        for a, b in sorted([*self.ranges, (first, last)]):
            if merged and a <= merged[-1][1] + self.step:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self.ranges = merged

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".tmp-{self.path.name}.{os.getpid()}")
        doc = {"ranges": [[format_ts(a), format_ts(b)] for a, b in self.ranges]}
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.path)


class AlphaVantageSource(Source):
    """Polls every `poll` seconds; `once` fetches once; `month` backfills one month."""

    name = "alphavantage"

    def __init__(
        self,
        client: AlphaVantageClient,
        symbols: Sequence[str],
        state_dir: Path,
        interval: str = "5min",
        poll: float = 300.0,
        once: bool = False,
        month: str | None = None,
        outputsize: str | None = None,
        adjusted: bool = True,
        extended_hours: bool = True,
        datatype: str = "json",
        market_hours_only: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        for sym in symbols:
            if not SYMBOL_RE.fullmatch(sym):
                raise ConfigError(f"symbol {sym!r} is invalid: use A-Z, 0-9, '.' and '-'")
        if interval not in INTRADAY_INTERVALS:
            raise ConfigError(
                f"--interval {interval!r} is not an intraday interval: use one of "
                + ", ".join(INTRADAY_INTERVALS)
            )
        if outputsize is not None and outputsize not in OUTPUT_SIZES:
            raise ConfigError(f"--outputsize {outputsize!r} is invalid: use compact or full")
        if datatype not in DATATYPES:
            raise ConfigError(f"--datatype {datatype!r} is invalid: use json or csv")
        if poll <= 0:
            raise ConfigError(f"--poll {poll} must be a positive number of seconds")
        self.client = client
        self.symbols = list(dict.fromkeys(symbols))
        self.state_dir = state_dir
        self.interval = interval
        self.poll = poll
        self.month = check_month(month) if month else None
        self.once = once or self.month is not None
        # A month is only complete with `full`; live polls need only the latest 100 bars.
        self.outputsize = outputsize or ("full" if self.month else "compact")
        self.adjusted = adjusted
        self.extended_hours = extended_hours
        self.datatype = datatype
        self.market_hours_only = market_hours_only
        self._clock = clock
        self.symbol_errors = self.stats.symbol_errors
        self.stats.extra.update({"polls": 0, "symbol_errors": 0, "rate_limited": 0, "rejected": 0})
        if not self.once:
            per_day = len(self.symbols) * 86400 / poll
            if client.budget.per_day and per_day > client.budget.per_day:
                log.warning(
                    "%d symbols every %.0f s need up to %.0f requests a day, more than the "
                    "budget of %d: polling will pause when it is spent",
                    len(self.symbols),
                    poll,
                    per_day,
                    client.budget.per_day,
                )

    # -- waiting -------------------------------------------------------------

    def _wait_until(self, moment: datetime) -> Iterator[Retry]:
        """Ask the caller to wait until `moment` (again, if it woke up early)."""
        while not self.stopped:
            left = moment - self._clock()
            if left <= timedelta(0):
                return
            yield Retry(left)

    def _market_may_move(self, now: datetime) -> bool:
        """Whether new bars can appear now (a session day, within the covered hours)."""
        if not self.market_hours_only:
            return True
        # Imported here: the exchange calendar is slow to load, and importing the package
        # (for the client or the parsers) must not pay for it.
        from stockpipe import calendar

        local = now.astimezone(EXCHANGE_TZ)
        try:
            if not calendar.is_session(local.date()):
                return False
        except ConfigError:
            return True  # outside the calendar's range: do not guess, poll
        minutes = local.hour * 60 + local.minute
        opens, closes = (4 * 60, 20 * 60) if self.extended_hours else (9 * 60 + 30, 16 * 60)
        # The last bar of the day is published a little after the close.
        return opens <= minutes < closes + 2 * INTERVAL_SECONDS[self.interval] // 60

    # -- fetching ------------------------------------------------------------

    def _fetch(self, symbol: str) -> Generator[Retry, None, Series | None]:
        """Yield a `Retry` while rate-limited; return the response (None if stopped)."""
        bursts = 0
        while not self.stopped:
            try:
                series = self.client.intraday(
                    symbol,
                    self.interval,
                    self.outputsize,
                    self.month,
                    self.adjusted,
                    self.extended_hours,
                    self.datatype,
                )
            except (RateLimitError, BudgetExhaustedError) as exc:
                self.stats.extra["rate_limited"] += 1
                burst = isinstance(exc, BurstLimitError)
                bursts += burst
                # --once cannot wait for tomorrow; a burst limit is worth a few short waits.
                if (self.once and not burst) or bursts > MAX_BURST_RETRIES:
                    raise
                log.warning("%s", exc)
                yield from self._wait_until(exc.resume_at)
                continue
            if series.symbol != symbol:
                raise SymbolError(f"asked for {symbol} but the response is for {series.symbol}")
            return series
        return None

    def batches(self) -> Iterator[list[Payload] | Retry]:
        try:
            while not self.stopped:
                started = self._clock()
                if self.stats.extra["polls"] == 0 or self._market_may_move(started):
                    yield from self._poll_once()
                    self.stats.extra["polls"] += 1
                else:
                    log.info("market closed: skipping the poll at %s", format_ts(started))
                if self.once:
                    return
                yield from self._wait_until(started + timedelta(seconds=self.poll))
        finally:
            self.client.close()

    def _poll_once(self) -> Iterator[list[Payload] | Retry]:
        """One batch per symbol: the closed bars not emitted before, oldest first."""
        step = timedelta(seconds=INTERVAL_SECONDS[self.interval])
        for symbol in self.symbols:
            if self.stopped:
                return
            try:
                series = yield from self._fetch(symbol)
            except _TERMINAL:
                raise
            except SourceError as exc:
                # One bad symbol (an unknown ticker, a garbled response) must not stop the
                # others; what stops every symbol (a bad key, the network) is terminal.
                self.symbol_errors[symbol] = str(exc)
                self.stats.extra["symbol_errors"] += 1
                log.error("%s", exc)
                continue
            if series is None:
                return
            fetched = series.bars
            state = EmittedLog(self.state_dir, symbol, self.interval)
            now = self._clock()
            # A bar whose period has not ended may still change: it is sent on a later poll.
            closed = [b for b in fetched if b.ts + step <= now]
            new = [b for b in closed if not state.seen(b.ts)]
            # A bad bar goes on to quarantine (with the request it came in) once, like a
            # good one; one whose time cannot be read is sent with every response holding it.
            bad = [
                r
                for r in series.rejected
                if r.ts is None or (r.ts + step <= now and not state.seen(r.ts))
            ]
            self.stats.bars += len(new)
            self.stats.payloads += len(new) + len(bad)
            self.stats.extra["rejected"] += len(bad)
            log.info(
                "%s: %d bars fetched, %d new, %d rejected", symbol, len(fetched), len(new), len(bad)
            )
            yield [(b.partition_key, b.to_json()) for b in new]
            if bad:
                yield [(r.partition_key, r.to_json()) for r in bad]
            # Reached only after the stream accepted the batch: now it counts as emitted.
            if closed:
                # The response is a contiguous window, so all of it is covered now.
                state.add(closed[0].ts, closed[-1].ts)
                state.save()
