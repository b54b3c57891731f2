"""Property: any split into batches, processed in any order, equals one batch over all."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from processing_factories import read_table, simulate

from stockpipe.lake.local import LocalLake
from stockpipe.processing.base import BatchStats
from stockpipe.processing.engine import Processor
from stockpipe.sources.simulator import MarketSimulator

# Two symbols, two sessions, faults on: duplicates, swaps and malformed records included.
_SIM, RECORDS = simulate(["AAPL", "BRK.B"], 2, seed=12, fault_rate=0.08)
# Keep examples quick: a tail of each session is enough to cross a session boundary.
RECORDS = RECORDS[300:420] + RECORDS[700:900] + RECORDS[1120:1240]
KEY = {"processed-data/bars": ["symbol", "interval", "ts"],
       "processed-data/daily": ["symbol", "interval", "dt"],
       "quarantine": ["shard_id", "sequence_number"]}  # fmt: skip


def _tables(lake: LocalLake) -> dict[str, pd.DataFrame]:
    out = {}
    for prefix, key in KEY.items():
        table = read_table(lake, prefix)
        out[prefix] = table.sort_values(key).reset_index(drop=True)
    return out


with tempfile.TemporaryDirectory() as _tmp:
    _ONE = LocalLake(Path(_tmp))
    ONE_SHOT_STATS = Processor(_ONE).process(RECORDS)
    ONE_SHOT = _tables(_ONE)


@st.composite
def splits(draw: st.DrawFn) -> list[list[int]]:
    cuts = draw(st.lists(st.integers(1, len(RECORDS) - 1), max_size=4, unique=True))
    bounds = [0, *sorted(cuts), len(RECORDS)]
    parts = [list(range(a, b)) for a, b in zip(bounds, bounds[1:], strict=False)]
    return draw(st.permutations(parts))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=splits())
def test_any_split_in_any_order_equals_one_shot(parts: list[list[int]]) -> None:
    assert isinstance(_SIM, MarketSimulator)
    with tempfile.TemporaryDirectory() as tmp:
        lake = LocalLake(Path(tmp))
        proc = Processor(lake)
        totals = BatchStats()
        for part in parts:
            stats = proc.process([RECORDS[i] for i in part])
            assert stats.balanced
            totals = totals + stats
        assert totals == ONE_SHOT_STATS
        got = _tables(lake)
        for prefix, expected in ONE_SHOT.items():
            pd.testing.assert_frame_equal(got[prefix], expected, rtol=1e-9, obj=prefix)
