"""Shared fixtures: an isolated STOCKPIPE_HOME and a way to run the CLI in-process."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import stockpipe.config as config_module

_ENV_PREFIXES = ("STOCKPIPE_", "ALPHA_VANTAGE_", "KINESIS_", "S3_BUCKET", "ALPACA_", "FINNHUB_")


def pytest_report_header(config: pytest.Config) -> str:
    """Name the engines the run used: the Spark tests must run the line Glue 5.0/EMR 7 run."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for dist in ("pyspark", "boto3", "botocore", "moto", "duckdb", "pyarrow", "numpy", "pandas"):
        try:
            found.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            found.append(f"{dist} (not installed)")
    return "stockpipe engines: " + ", ".join(found)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which PySpark the Spark tests ran on (shown under -q too)."""
    pyspark = sys.modules.get("pyspark")
    if pyspark is not None:
        terminalreporter.write_line(f"Spark tests ran on PySpark {pyspark.__version__}")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts from defaults: no stockpipe env vars, no config file, no cache."""
    for key in list(os.environ):
        if key.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config_module, "_CURRENT", None)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("STOCKPIPE_HOME", str(path))
    return path


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `stockpipe ARGS...` in-process; returns exit code, stdout and stderr."""
    from stockpipe.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


# --- extended-hours bars around Thanksgiving 2026 ----------------------------------------

# Tue 2026-11-24 and Wed 11-25 are full sessions, Thu 11-26 is Thanksgiving (closed), Fri
# 11-27 closes early at 13:00, Sat 11-28 has no session. New York is on EST (UTC-5).
EXTENDED_DAYS = ("2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28")


@pytest.fixture(scope="session")
def extended_hours():  # type: ignore[no-untyped-def]
    """extended_hours(symbol="XT", seed=3) -> 15-minute Bars from 04:00 to 19:45 New York
    time on each of EXTENDED_DAYS (64 a day, 320 in all), oldest first, as a vendor with
    extended-hours data sends them (also on the holiday and the Saturday)."""
    from datetime import UTC, date, datetime, timedelta
    from zoneinfo import ZoneInfo

    import numpy as np

    from stockpipe.records import Bar

    new_york = ZoneInfo("America/New_York")

    def make(symbol: str = "XT", seed: int = 3) -> list[Bar]:
        rng = np.random.default_rng(seed)
        bars, price = [], 100.0
        for text in EXTENDED_DAYS:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, 4, 0, tzinfo=new_york)
            for i in range(64):
                ts = (start + timedelta(minutes=15 * i)).astimezone(UTC)
                close = round(price * float(np.exp(rng.normal(0, 0.004))), 2)
                wick = [round(float(x), 2) for x in rng.uniform(0.01, 0.3, 2)]
                bars.append(
                    Bar(
                        symbol=symbol,
                        interval="15min",
                        ts=ts,
                        open=price,
                        high=round(max(price, close) + wick[0], 2),
                        low=round(min(price, close) - wick[1], 2),
                        close=close,
                        volume=int(rng.integers(100, 5000)),
                        source="replay",
                    )
                )
                price = close
        return bars

    return make
