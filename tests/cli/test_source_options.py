"""The source options `ingest` and `run` share: declared once, parsed into typed options."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from stockpipe.cli import pipeline
from stockpipe.cli.source_options import to_source_options
from stockpipe.config import load_settings
from stockpipe.sources.options import (
    AlphaVantageOptions,
    ReplayOptions,
    SimulatorOptions,
    WebsocketOptions,
)

SHARED = [
    "source",
    "symbols",
    "seed",
    "interval",
    "poll",
    "once",
    "month",
    "requests_per_day",
    "min_spacing",
    "symbol",
    "outputsize",
    "adjusted",
    "extended_hours",
    "datatype",
    "channel",
    "feed",
    "lateness",
    "stall_timeout",
    "files",
]


def _params(name: str) -> dict[str, Any]:
    commands = typer.Typer()
    pipeline.register(commands)
    command = typer.main.get_command(commands).commands[name]  # type: ignore[attr-defined]
    return {p.name: p for p in command.params if p.name}


def _args(**given: Any) -> dict[str, Any]:
    """The shared options as typer parses them from a command line with only `given`."""
    defaults = {name: param.default for name, param in _params("ingest").items()}
    return {name: defaults[name] for name in SHARED} | given


def test_ingest_and_run_declare_the_same_shared_options() -> None:
    ingest, run = _params("ingest"), _params("run")
    for name in SHARED:
        a, b = ingest[name], run[name]
        assert (a.opts, a.secondary_opts, a.default) == (b.opts, b.secondary_opts, b.default)
        assert getattr(a, "help", None) == getattr(b, "help", None)


def test_commands_keep_their_own_simulator_defaults() -> None:
    ingest, run = _params("ingest"), _params("run")
    assert (ingest["speed"].default, ingest["live"].default) == (1.0, False)
    assert (run["speed"].default, run["live"].default) == (60.0, True)
    assert "start" in ingest and "start" not in run


def test_defaults_come_from_the_option_dataclasses(home) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings().settings
    options = to_source_options(settings, _args(), days=5, live=False, speed=1.0, fault_rate=0.0)
    assert options.source == "simulator"
    assert options.symbols == tuple(settings.symbols)
    assert options.simulator == SimulatorOptions()
    assert options.alphavantage == AlphaVantageOptions()
    assert options.alphavantage.interval == "5min"
    assert options.replay == ReplayOptions()
    assert options.websocket == WebsocketOptions(channel="trades", feed="iex")


def test_given_options_reach_every_kind(home) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings().settings
    args = _args(
        source="replay",
        symbols=" ibm, msft ,",
        seed=7,
        interval="1min",
        symbol=" ibm ",
        files=["a.json", "b.csv"],
        channel="bars",
        outputsize="full",
        requests_per_day=0,
    )
    options = to_source_options(settings, args, days=3, live=True, speed=60.0, fault_rate=0.1)
    assert options.symbols == ("IBM", "MSFT")
    assert options.simulator == SimulatorOptions(
        days=3, start=None, seed=7, live=True, speed=60.0, fault_rate=0.1
    )
    assert options.replay == ReplayOptions(files=("a.json", "b.csv"), symbol="IBM", interval="1min")
    assert options.alphavantage.interval == "1min"
    assert options.alphavantage.outputsize == "full"
    assert options.alphavantage.requests_per_day == 0
    assert options.websocket.channel == "bars"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--source", "bloomberg"], "--source 'bloomberg' is unknown"),
        (["run", "--symbols", ","], "--symbols is empty"),
        (["run", "--source", "replay"], "--source replay needs at least one FILE"),
    ],
    ids=["source", "symbols", "replay-files"],
)
def test_run_rejects_bad_source_options_before_starting(cli, home, args, message) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.code == 2
    assert message in result.err
    assert not (home / "state" / "runstate").exists()
