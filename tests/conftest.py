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
