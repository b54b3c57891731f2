"""build_source from typed options, and the typed stats every source returns."""

from __future__ import annotations

from datetime import date

import pytest

from stockpipe.errors import ConfigError
from stockpipe.sources.factory import build_source
from stockpipe.sources.options import ReplayOptions, SimulatorOptions, SourceOptions
from stockpipe.sources.simulator import MarketSimulator

MONDAY = date(2026, 11, 23)


def test_simulator_from_options_uses_every_option() -> None:
    options = SourceOptions(
        symbols=("AAPL",),
        simulator=SimulatorOptions(days=2, start=MONDAY, seed=3, speed=5.0, fault_rate=0.1),
    )
    source = build_source(options)
    assert isinstance(source, MarketSimulator)
    assert source.sessions == [MONDAY, date(2026, 11, 24)]
    assert (source.symbols, source.seed, source.speed) == (["AAPL"], 3, 5.0)
    assert source.fault_rate == 0.1 and source.live is False


def test_injected_faults_are_in_the_stats_only_when_asked_for() -> None:
    plain = build_source(SourceOptions(symbols=("AAPL",), simulator=SimulatorOptions(days=1)))
    assert plain.stats.faults is None
    faulty = build_source(
        SourceOptions(symbols=("AAPL",), simulator=SimulatorOptions(days=1, fault_rate=0.2))
    )
    batches = list(faulty.batches())  # the faults are counted as the bars are produced
    assert batches
    assert isinstance(faulty, MarketSimulator)
    assert faulty.stats.faults is faulty.faults
    assert faulty.faults.duplicates + faulty.faults.malformed + faulty.faults.out_of_order > 0


def test_replay_needs_files() -> None:
    with pytest.raises(ConfigError, match="needs at least one FILE"):
        build_source(SourceOptions(source="replay", replay=ReplayOptions()))


def test_unknown_source_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="use one of: simulator, alphavantage, replay"):
        build_source(SourceOptions(source="bloomberg"))
