"""Fixture lake for the dashboard: Parquet bars written straight from the data contract.

The bars do not come from the processing engine (built in parallel), so the indicator
columns are computed here with plain pandas; the dashboard only displays them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from stockpipe.config import Settings, load_settings
from stockpipe.contract import BARS
from stockpipe.lake.local import LocalLake
from stockpipe.processing.latest import rebuild_latest

SESSIONS = (date(2026, 1, 5), date(2026, 1, 6))  # Mon, Tue; EST, so 14:30-21:00 UTC
SYMBOLS = {"AAPL": 245.0, "MSFT": 480.0, "NVDA": 140.0}
BARS_PER_SESSION = 120  # 14:30-16:29 UTC: enough for SMA 50 and MACD to warm up

# A fortnight of whole sessions around a weekend, Christmas and New Year (all EST, so every
# session opens at 14:30 UTC): Dec 24 closes early at 13:00 ET (210 bars), Dec 25 and
# Jan 1 are holidays, Dec 27-28 and Jan 3-4 weekends. NVDA trades 50x the volume.
WEEK_SESSIONS = (
    date(2025, 12, 24),
    date(2025, 12, 26),
    date(2025, 12, 29),
    date(2025, 12, 30),
    date(2025, 12, 31),
    date(2026, 1, 2),
    date(2026, 1, 5),
    date(2026, 1, 6),
)
WEEK_BARS = {day: 210 if day == date(2025, 12, 24) else 390 for day in WEEK_SESSIONS}
WEEK_VOLUME_SCALE = {"NVDA": 50}


def session_open(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC)


def make_bars(symbol: str, day: date, start_price: float, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    closes = start_price * np.exp(np.cumsum(rng.normal(0, 0.0015, n)))
    opens = np.concatenate([[start_price], closes[:-1]])
    spread = np.abs(rng.normal(0, 0.001, n)) * closes
    highs = np.maximum(opens, closes) + spread
    lows = np.minimum(opens, closes) - spread
    volume = rng.integers(10_000, 50_000, n)
    ts = [session_open(day) + timedelta(minutes=i) for i in range(n)]
    df = pd.DataFrame(
        {
            "symbol": symbol,
            "interval": "1min",
            "ts": pd.to_datetime(ts, utc=True),
            "open": opens.round(4),
            "high": highs.round(4),
            "low": lows.round(4),
            "close": closes.round(4),
            "volume": volume.astype("int64"),
            "source": "fixture",
            "session": "regular",  # 09:30-11:29 New York time
        }
    )
    return df


def add_indicators(df: pd.DataFrame) -> pd.DataFrame:
    """Indicators over one symbol's whole series (sorted by ts), session-scoped VWAP."""
    c = df["close"]
    df["change"] = c.diff()
    df["change_pct"] = 100 * df["change"] / c.shift()
    for n in (5, 20, 50):
        df[f"sma_{n}"] = c.rolling(n).mean()
    for n in (12, 26):
        df[f"ema_{n}"] = c.ewm(span=n, adjust=False).mean()
    df["macd"] = df["ema_12"] - df["ema_26"]
    df["macd_signal"] = df["macd"].ewm(span=9, adjust=False).mean()
    df["macd_hist"] = df["macd"] - df["macd_signal"]
    delta = c.diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / 14, adjust=False).mean()
    df["rsi_14"] = 100 - 100 / (1 + gain / loss)
    std = c.rolling(20).std(ddof=0)
    df["bb_middle"] = df["sma_20"]
    df["bb_upper"] = df["sma_20"] + 2 * std
    df["bb_lower"] = df["sma_20"] - 2 * std
    session = df["ts"].dt.tz_convert("America/New_York").dt.date
    typical = (df["high"] + df["low"] + df["close"]) / 3
    pv = (typical * df["volume"]).groupby(session).cumsum()
    df["vwap"] = pv / df["volume"].groupby(session).cumsum()
    df["session_high"] = df["high"].groupby(session).cummax()
    df["session_low"] = df["low"].groupby(session).cummin()
    df["ingest_shard"] = "shardId-000000000000"
    df["ingest_seq"] = [str(i) for i in range(len(df))]
    return df


def write_bars(lake: LocalLake, df: pd.DataFrame, name: str) -> None:
    """One Parquet file per session date under processed-data/bars/dt=.../<name>.parquet."""
    session = df["ts"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
    for dt, part in df.groupby(session):
        table = pa.Table.from_pandas(
            part[BARS.column_names], schema=BARS.arrow_schema(), preserve_index=False
        )
        lake.write_parquet(f"{BARS.prefix}/dt={dt}/{name}.parquet", table)
    # The engine keeps the latest table after every batch; a lake written by hand must too.
    rebuild_latest(lake)


@dataclass
class FixtureLake:
    root: Path
    settings: Settings
    frames: dict[str, pd.DataFrame]

    @property
    def lake(self) -> LocalLake:
        return LocalLake(self.root)

    def append_bar(self, symbol: str, close: float, volume: int = 12_345) -> pd.Series:
        """Write one new bar one minute after the symbol's last, in its own file."""
        df = self.frames[symbol]
        last = df.iloc[-1]
        ts = last["ts"] + pd.Timedelta(minutes=1)
        row = {c: last[c] for c in df.columns}
        row.update(
            ts=ts,
            open=float(last["close"]),
            high=max(close, float(last["close"])) + 0.05,
            low=min(close, float(last["close"])) - 0.05,
            close=close,
            volume=volume,
        )
        new = pd.DataFrame([row])
        new["ts"] = pd.to_datetime(new["ts"], utc=True)
        self.frames[symbol] = pd.concat([df, new], ignore_index=True)
        write_bars(self.lake, new, f"{symbol}-{ts:%H%M}")
        return new.iloc[0]


def build_fixture_lake(
    root: Path,
    sessions: tuple[date, ...] = SESSIONS,
    bars: dict[date, int] | None = None,
    volume_scale: dict[str, int] | None = None,
) -> FixtureLake:
    lake = LocalLake(root / "lake")
    frames = {}
    for i, (symbol, price) in enumerate(SYMBOLS.items()):
        parts = []
        start = price
        for j, day in enumerate(sessions):
            n = (bars or {}).get(day, BARS_PER_SESSION)
            part = make_bars(symbol, day, start, n, seed=100 * i + j)
            part["volume"] *= (volume_scale or {}).get(symbol, 1)
            start = float(part["close"].iloc[-1]) * 1.004  # a small overnight gap
            parts.append(part)
        df = add_indicators(pd.concat(parts, ignore_index=True))
        write_bars(lake, df, symbol)
        frames[symbol] = df
    home = root / "home"
    home.mkdir(exist_ok=True)
    settings = load_settings(
        {"lake": str(root / "lake"), "home": str(home), "sql": "duckdb", "metrics": "local"}
    ).settings
    return FixtureLake(root / "lake", settings, frames)


@pytest.fixture
def fixture_lake(tmp_path: Path) -> Iterator[FixtureLake]:
    from stockpipe.sql import reset_engines

    yield build_fixture_lake(tmp_path)
    reset_engines()


# The session-wide `browser` fixture (Debian's chromium) lives in tests/conftest.py: one
# Playwright per process, because a second sync_playwright() in the same thread is refused.


@pytest.fixture(scope="module")
def shared_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixtureLake]:
    """A fixture lake for tests that only read it."""
    from stockpipe.sql import reset_engines

    yield build_fixture_lake(tmp_path_factory.mktemp("dash"))
    reset_engines()


def build_daily_lake(root: Path) -> FixtureLake:
    """Daily bars only (as Alpha Vantage's daily series gives): 5 sessions of AAPL."""
    lake = LocalLake(root / "lake")
    days = [date(2026, 1, d) for d in (5, 6, 7, 8, 9)]
    parts = [make_bars("AAPL", d, 245.0 + i, 1, seed=i) for i, d in enumerate(days)]
    df = pd.concat(parts, ignore_index=True)
    df["interval"] = "1day"
    df = add_indicators(df)
    write_bars(lake, df, "AAPL")
    settings = load_settings(
        {"lake": str(root / "lake"), "home": str(root), "sql": "duckdb", "metrics": "local"}
    ).settings
    return FixtureLake(root / "lake", settings, {"AAPL": df})


@pytest.fixture(scope="module")
def daily_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixtureLake]:
    from stockpipe.sql import reset_engines

    yield build_daily_lake(tmp_path_factory.mktemp("daily"))
    reset_engines()


def build_week_lake(root: Path) -> FixtureLake:
    return build_fixture_lake(root, WEEK_SESSIONS, WEEK_BARS, WEEK_VOLUME_SCALE)


@pytest.fixture(scope="module")
def week_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixtureLake]:
    """Whole sessions over weekends and holidays, for tests that only read it."""
    from stockpipe.sql import reset_engines

    yield build_week_lake(tmp_path_factory.mktemp("week"))
    reset_engines()


@pytest.fixture
def serve_dashboard() -> Iterator[object]:
    """Factory: start_dashboard(settings, refresh=...) on 127.0.0.1 and a free port."""
    from stockpipe.dashboard import start_dashboard

    handles = []

    def start(settings: Settings, refresh: float = 5.0, **kwargs: object):  # type: ignore[no-untyped-def]
        handle = start_dashboard(settings, "127.0.0.1", 0, refresh, **kwargs)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def _page(browser, **options):  # type: ignore[no-untyped-def]
    context = browser.new_context(**options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    return context, page


@pytest.fixture
def desktop(browser):  # type: ignore[no-untyped-def]
    """A 1440x900 desktop window with a mouse (the issue's desktop size)."""
    context, page = _page(browser, viewport={"width": 1440, "height": 900})
    yield page
    context.close()


@pytest.fixture
def phone(browser):  # type: ignore[no-untyped-def]
    """A 390x844 touch phone (iPhone 12-14 class), as Playwright emulates one."""
    context, page = _page(
        browser,
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
    yield page
    context.close()
