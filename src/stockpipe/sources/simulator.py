"""MarketSimulator: deterministic 1-minute bars by geometric Brownian motion.

The bars of one (seed, symbol, session) depend on nothing else, so history can be
generated in pieces and a session regenerated later matches the first time:
- each session's opening price comes from a daily random walk anchored at a reference
  session, drawn from a generator keyed by (seed, symbol) only;
- each session's minutes come from a generator keyed by (seed, symbol, session date).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np

from stockpipe import calendar
from stockpipe.contract import SYMBOL_RE
from stockpipe.errors import ConfigError
from stockpipe.records import Bar, format_ts
from stockpipe.sources.base import FaultReport, Payload, Source

MINUTE = timedelta(minutes=1)
TRADING_DAYS = 252
MINUTES_PER_SESSION = 390
REFERENCE_SESSION = date(2026, 1, 2)  # prices below are realistic around this session
_WALK_LENGTH = 6000  # sessions from calendar.CALENDAR_START: far beyond the calendar's end


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    price: float  # at REFERENCE_SESSION's open
    annual_vol: float
    volume_per_minute: int


DEFAULT_SPECS = {
    s.symbol: s
    for s in (
        SymbolSpec("AAPL", 245.0, 0.26, 120_000),
        SymbolSpec("MSFT", 480.0, 0.24, 55_000),
        SymbolSpec("GOOGL", 190.0, 0.30, 70_000),
        SymbolSpec("AMZN", 225.0, 0.32, 90_000),
        SymbolSpec("NVDA", 140.0, 0.50, 600_000),
        SymbolSpec("META", 600.0, 0.36, 35_000),
        SymbolSpec("TSLA", 400.0, 0.60, 250_000),
        SymbolSpec("JPM", 240.0, 0.22, 25_000),
    )
}


def _stable_int(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def spec_for(symbol: str) -> SymbolSpec:
    """Known symbols get realistic parameters; others get stable made-up ones."""
    if symbol in DEFAULT_SPECS:
        return DEFAULT_SPECS[symbol]
    h = _stable_int("spec", symbol)
    return SymbolSpec(
        symbol,
        price=20.0 + (h % 48000) / 100.0,
        annual_vol=0.18 + (h >> 20) % 40 / 100.0,
        volume_per_minute=5_000 + (h >> 32) % 100_000,
    )


@lru_cache(maxsize=512)
def _session_opens(seed: int, symbol: str) -> np.ndarray:
    """Opening price of every session since CALENDAR_START (a daily log random walk)."""
    spec = spec_for(symbol)
    rng = np.random.default_rng([seed, _stable_int("walk", symbol)])
    sigma = spec.annual_vol / np.sqrt(TRADING_DAYS)
    steps = rng.standard_normal(_WALK_LENGTH) * sigma - 0.5 * sigma * sigma
    walk = np.concatenate([[0.0], np.cumsum(steps)])
    ref = calendar.session_index(REFERENCE_SESSION)
    return spec.price * np.exp(walk - walk[ref])


@dataclass(frozen=True)
class SessionBars:
    symbol: str
    day: date
    start: datetime  # first bar, UTC
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.close)

    def bar(self, i: int) -> Bar:
        return Bar(
            symbol=self.symbol,
            interval="1min",
            ts=self.start + i * MINUTE,
            open=float(self.open[i]),
            high=float(self.high[i]),
            low=float(self.low[i]),
            close=float(self.close[i]),
            volume=int(self.volume[i]),
            source="simulator",
        )


@lru_cache(maxsize=4096)
def session_bars(seed: int, symbol: str, day: date) -> SessionBars:
    """Every 1-minute bar of one symbol's regular session."""
    opened, closed = calendar.session_bounds(day)
    n = int((closed - opened) / MINUTE)
    spec = spec_for(symbol)
    first_open = float(_session_opens(seed, symbol)[calendar.session_index(day)])
    rng = np.random.default_rng([seed, _stable_int("session", symbol), day.toordinal()])
    sigma = spec.annual_vol / np.sqrt(TRADING_DAYS * MINUTES_PER_SESSION)
    rets = rng.standard_normal(n) * sigma
    closes = np.round(first_open * np.exp(np.cumsum(rets)), 2)
    opens = np.concatenate([[round(first_open, 2)], closes[:-1]])
    wick = np.abs(rng.standard_normal((2, n))) * sigma * 0.6
    highs = np.round(np.maximum(opens, closes) * np.exp(wick[0]), 2)
    lows = np.round(np.minimum(opens, closes) * np.exp(-wick[1]), 2)
    highs = np.maximum(highs, np.maximum(opens, closes))
    lows = np.minimum(lows, np.minimum(opens, closes))
    # Intraday U shape: busy at the open and the close, quiet at lunch.
    x = (np.arange(n) - (n - 1) / 2) / ((n - 1) / 2 or 1)
    shape = 0.55 + 1.35 * x * x
    noise = rng.lognormal(0.0, 0.3, n)
    volume = np.maximum(1, np.round(spec.volume_per_minute * shape * noise)).astype(np.int64)
    return SessionBars(symbol, day, opened, opens, highs, lows, closes, volume)


_MALFORMED_KINDS = ("truncated_json", "negative_price", "high_below_close", "bad_symbol", "no_ts")


def _malformed(bar: Bar, kind: str) -> bytes:
    doc = bar.to_dict()
    if kind == "truncated_json":
        return bar.to_json()[:-7]
    if kind == "negative_price":
        doc["close"] = -abs(bar.close)
    elif kind == "high_below_close":
        doc["high"] = round(min(bar.open, bar.close) - 1.0, 2)
    elif kind == "bad_symbol":
        doc["symbol"] = bar.symbol.lower() + "/../x"
    elif kind == "no_ts":
        del doc["ts"]
    return json.dumps(doc, separators=(",", ":")).encode()


class MarketSimulator(Source):
    """Backfills sessions, then optionally goes on live at `speed` x real time."""

    name = "simulator"

    def __init__(
        self,
        symbols: Sequence[str],
        sessions: Sequence[date],
        seed: int = 0,
        live: bool = False,
        speed: float = 1.0,
        fault_rate: float = 0.0,
        clock: type[datetime] = datetime,
        resume_after: dict[str, datetime] | None = None,
    ) -> None:
        super().__init__()
        for sym in symbols:
            if not SYMBOL_RE.match(sym):
                raise ConfigError(f"symbol {sym!r} is invalid: use A-Z, 0-9, '.' and '-'")
        if not 0.0 <= fault_rate <= 0.5:
            raise ConfigError(f"--fault-rate {fault_rate} is out of range: use 0 to 0.5")
        if speed <= 0:
            raise ConfigError(f"--speed {speed} must be positive")
        self.symbols = list(dict.fromkeys(symbols))
        self.sessions = list(sessions)
        self.seed = seed
        self.live = live
        self.speed = speed
        self.fault_rate = fault_rate
        self.faults = FaultReport()
        if fault_rate > 0:
            self.stats.faults = self.faults
        self._clock = clock
        self.live_cursor: datetime | None = None
        # Resume: per symbol, the last bar already held downstream (skipped, not re-sent).
        self.resume_after: dict[str, datetime] = {
            sym: ts.astimezone(UTC) for sym, ts in (resume_after or {}).items()
        }
        # Progress, for the status view: "backfill 3/5 sessions", then "live".
        self.phase = "starting"
        self.sessions_done = 0
        self.sim_clock: datetime | None = None

    # -- payloads ------------------------------------------------------------

    def _emit(
        self, bars: list[Bar], fault_key: tuple[object, ...], keep: list[bool] | None = None
    ) -> list[Payload]:
        """Encode bars, injecting faults deterministically from (seed, fault_key).

        `keep[i]` False drops bar i and its faults (a resumed run skips what is already
        held): the draws are still made for every bar, so the bars and faults that are
        kept are the very ones an uninterrupted run would have produced.
        """
        out: list[Payload] = [(b.symbol, b.to_json()) for b in bars]
        keep = keep if keep is not None else [True] * len(bars)
        if not self.fault_rate:
            result = [p for p, k in zip(out, keep, strict=True) if k]
            self.stats.bars += len(result)
            self.stats.payloads += len(result)
            return result
        rng = np.random.default_rng([self.seed, _stable_int("faults", *fault_key)])
        draws = rng.random(len(bars))
        kinds = rng.integers(0, len(_MALFORMED_KINDS), len(bars))
        p = self.fault_rate
        tagged: list[tuple[int, Payload]] = []
        i = 0
        while i < len(bars):
            u = draws[i]
            payload = out[i]
            if u < p / 3:
                tagged += [(i, payload), (i, payload)]
                if keep[i]:
                    self.faults.duplicates += 1
            elif u < 2 * p / 3 and i + 1 < len(bars) and bars[i + 1].symbol == bars[i].symbol:
                tagged += [(i + 1, out[i + 1]), (i, payload)]
                if keep[i] and keep[i + 1]:
                    self.faults.out_of_order += 1
                i += 1
            elif u < p:
                kind = _MALFORMED_KINDS[int(kinds[i])]
                tagged += [(i, payload), (i, (bars[i].symbol, _malformed(bars[i], kind)))]
                if keep[i]:
                    self.faults.malformed += 1
                    self.faults.kinds[kind] = self.faults.kinds.get(kind, 0) + 1
            else:
                tagged.append((i, payload))
            i += 1
        result = [payload for j, payload in tagged if keep[j]]
        self.stats.bars += sum(keep)
        self.stats.payloads += len(result)
        return result

    def _held(self, symbol: str, ts: datetime) -> bool:
        """True if a resumed run already holds this bar (at or before the symbol's last)."""
        last = self.resume_after.get(symbol)
        return last is not None and ts <= last

    def backfill_batches(self) -> Iterator[list[Payload]]:
        self.phase = "backfill"
        for done, day in enumerate(self.sessions):
            self.sessions_done = done
            for sym in self.symbols:
                if self.stopped:
                    return
                sb = session_bars(self.seed, sym, day)
                bars = [sb.bar(i) for i in range(len(sb))]
                keep = [not self._held(sym, b.ts) for b in bars]
                if not any(keep):
                    continue  # the whole session is already held: skip it
                self.sim_clock = bars[-1].ts + MINUTE
                yield self._emit(bars, (sym, day.isoformat()), keep)
        self.sessions_done = len(self.sessions)

    def progress(self) -> dict[str, object]:
        """Where the simulator is, for the status view and the dashboard."""
        return {
            "phase": self.phase,
            "sessions_done": self.sessions_done,
            "sessions_total": len(self.sessions),
            "clock": self.sim_clock.isoformat() if self.sim_clock else None,
            "speed": self.speed if self.live else None,
        }

    def batches(self) -> Iterator[list[Payload]]:
        yield from self.backfill_batches()
        if self.live and not self.stopped:  # a stop during the backfill stays "backfill"
            yield from self.live_batches()
        if not self.stopped:
            self.phase = "done"

    # -- live ----------------------------------------------------------------

    def _first_live_minute(self) -> datetime:
        """Where live starts: after the last held bar if live had begun, else now.

        A restart continues the simulated day where it stopped (same bars as without the
        restart) instead of replaying it from the open.
        """
        now = self._clock.now(UTC).replace(second=0, microsecond=0)
        after = calendar.session_bounds(self.sessions[-1])[1] if self.sessions else None
        if after is not None:
            now = max(now, after)
        held = max(
            (ts for sym, ts in self.resume_after.items() if sym in self.symbols), default=None
        )
        if held is not None and (after is None or held + MINUTE > after):
            return self._align(held + MINUTE)
        return self._align(now)

    def _anchor(self, cursor: datetime) -> datetime:
        """The simulated time at which the live clock starts (or restarts after a close).

        At `--speed 1` while the market is open, the simulated clock is the real clock: a
        bar carries the real current minute, a gap after a restart is caught up at once,
        and minutes already held (a faster run got ahead) are waited for, not faked.
        Otherwise the clock starts at the cursor (closed-market time is skipped).
        """
        if self.speed == 1:
            now = self._clock.now(UTC)
            if self._market_open(now):
                return now
            return max(cursor, now)
        return cursor

    @staticmethod
    def _market_open(moment: datetime) -> bool:
        day = moment.astimezone(UTC).date()
        if not calendar.is_session(day):
            return False
        opened, closed = calendar.session_bounds(day)
        return opened <= moment < closed

    @staticmethod
    def _align(moment: datetime) -> datetime:
        """The first bar start at or after `moment` that lies inside a session."""
        day = moment.astimezone(UTC).date()
        for _ in range(15):
            if calendar.is_session(day):
                opened, closed = calendar.session_bounds(day)
                if moment < opened:
                    return opened
                if moment + MINUTE <= closed:
                    return moment
            day = day + timedelta(days=1)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        raise ConfigError(f"no trading session found within two weeks of {moment}")

    def live_batches(self) -> Iterator[list[Payload]]:
        """One batch per simulated minute; closed-market time is skipped at once."""
        self.phase = "live"
        cursor = self._first_live_minute()
        anchor_sim, anchor_real = self._anchor(cursor), time.monotonic()
        while not self.stopped:
            sim_now = anchor_sim + timedelta(seconds=(time.monotonic() - anchor_real) * self.speed)
            self.sim_clock = sim_now
            if cursor + MINUTE > sim_now:
                due = (cursor + MINUTE - sim_now).total_seconds() / self.speed
                time.sleep(min(max(due, 0.005), 0.25))
                continue
            day = cursor.astimezone(UTC).date()
            bars = []
            for sym in self.symbols:
                sb = session_bars(self.seed, sym, day)
                i = int((cursor - sb.start) / MINUTE)
                bars.append(sb.bar(i))
            self.live_cursor = cursor
            keep = [not self._held(b.symbol, b.ts) for b in bars]
            if any(keep):
                yield self._emit(bars, ("live", format_ts(cursor)), keep)
            nxt = self._align(cursor + MINUTE)
            if nxt != cursor + MINUTE:
                # The market closed: jump to the next open instead of waiting for it.
                anchor_sim, anchor_real = self._anchor(nxt), time.monotonic()
            cursor = nxt
