"""Shared fixtures: an isolated STOCKPIPE_HOME, the CLI in-process, one moto server, and the
`integration` marker for every test that starts a real component."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
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


# A test that asks for one of these fixtures starts a real component (a moto server, a local
# SparkSession, headless Chromium): `make unit` (-m "not integration") leaves it out.
INTEGRATION_FIXTURES = {"moto_server": (), "spark": ("spark",), "browser": ("browser",)}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that need a real component from the fixtures they use (transitively), so
    a new test cannot forget the marker; the tests that start one without a fixture (a
    subprocess, a dashboard server) carry `pytestmark = pytest.mark.integration` themselves."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, extra in INTEGRATION_FIXTURES.items():
            if fixture in used:
                item.add_marker(pytest.mark.integration)
                for name in extra:
                    item.add_marker(getattr(pytest.mark, name))


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


# Fake credentials for every AWS test: nothing can reach real AWS, even with a profile set.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def fake_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fake keys, no profile, no config files and no stray endpoint (AWS_ENDPOINT_URL_*)."""
    for name in list(os.environ):
        if name in ("AWS_PROFILE", "AWS_ENDPOINT_URL") or name.startswith("AWS_ENDPOINT_URL_"):
            monkeypatch.delenv(name, raising=False)
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    empty = tmp_path_factory.mktemp("awscfg")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The one moto server of the run, on 127.0.0.1 with a random free port: its endpoint URL.

    moto keeps its state in process-wide backends whichever server answers, so one server per
    session isolates nothing less than one per module did; tests use fresh resource names.
    """
    from moto.server import ThreadedMotoServer  # imported here: unit runs never load moto

    _serialize_moto_shard_writes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _serialize_moto_shard_writes() -> None:
    """Make moto's Kinesis shard append atomic, as a real shard is.

    moto's `Shard.put_record` reads the last sequence number and stores under the next one
    without a lock (its source says "not safe for concurrency"); the threaded server answers
    concurrent PutRecords on several threads, so two producers can get the same number and one
    record silently replaces the other. Real Kinesis orders writes per shard, so the emulator
    is made to do the same; without this, tests with concurrent producers measure moto's race.
    """
    from moto.kinesis.models import Shard

    original = Shard.put_record
    if getattr(original, "_stockpipe_serialized", False):
        return
    lock = threading.Lock()

    def put_record(self: Shard, partition_key: str, data: bytes, explicit_hash_key: str) -> str:
        with lock:
            return original(self, partition_key, data, explicit_hash_key)

    put_record._stockpipe_serialized = True  # type: ignore[attr-defined]
    Shard.put_record = put_record  # type: ignore[method-assign]


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


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the whole run: Playwright's sync API refuses a second
    sync_playwright() in the same thread while the first is open."""
    from playwright.sync_api import sync_playwright

    from stockpipe.testing.browser import launch_chromium

    with sync_playwright() as p:
        launched = launch_chromium(p)
        yield launched
        launched.close()
