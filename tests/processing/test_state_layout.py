"""The indicator state layout, defined once (base.STATE_SLOTS), agrees with every user."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from processing_factories import random_series

from stockpipe.calendar import session_of
from stockpipe.contract import BARS, INDICATOR_COLUMNS
from stockpipe.processing import _loops
from stockpipe.processing.base import STATE_COLUMNS, STATE_SLOTS, bars_file_schema
from stockpipe.processing.indicators import CARRY, IndicatorState, compute_indicators


def test_indicator_columns_are_the_bars_columns_between_session_and_ingest() -> None:
    names = BARS.column_names
    between = names[names.index("session") + 1 : names.index("ingest_shard")]
    assert list(INDICATOR_COLUMNS) == between
    assert len(INDICATOR_COLUMNS) == 17
    assert all(BARS.column(n).type == "double" for n in INDICATOR_COLUMNS)


def test_bars_files_hold_the_state_columns_after_the_contract() -> None:
    schema = bars_file_schema()
    hidden = [(f.name, f.type) for f in schema][len(BARS.column_names) :]
    assert hidden == [
        ("_n", pa.int64()),
        ("_ema_fast", pa.float64()),
        ("_avg_gain", pa.float64()),
        ("_avg_loss", pa.float64()),
        ("_cum_pv", pa.float64()),
        ("_cum_vol", pa.float64()),
        ("_created_shard", pa.string()),
        ("_created_seq", pa.string()),
    ]
    assert STATE_COLUMNS == ("_n", "_ema_fast", "_avg_gain", "_avg_loss", "_cum_pv", "_cum_vol")
    # Every slot is stored: in a contract column or in a hidden one.
    for slot in STATE_SLOTS:
        assert slot.column in INDICATOR_COLUMNS or slot.column in STATE_COLUMNS, slot


def test_indicator_state_fields_are_the_slots() -> None:
    names = [f.name for f in fields(IndicatorState)]
    assert sorted(names) == sorted(["n", "closes", "dt", *(s.name for s in STATE_SLOTS)])
    assert CARRY[0] == "prev" and CARRY[1:] == tuple(s.name for s in STATE_SLOTS)


def test_each_carry_slot_is_what_the_loop_writes_to_its_column() -> None:
    # The compiled loop unpacks the carry by position; after a regular indicator bar each
    # slot must hold what the loop wrote to the slot's column for that bar.
    frame = random_series(3, 120)
    close = frame["close"].to_numpy(dtype=float)
    count = len(close)
    carry = np.array([np.nan, *(s.start for s in STATE_SLOTS)])
    rec = np.empty((len(_loops.RECURSIVE_ROWS), count))
    new_session = np.zeros(count, dtype=bool)
    new_session[0] = True
    _loops.recursive_pass(
        close,
        frame["high"].to_numpy(dtype=float),
        frame["low"].to_numpy(dtype=float),
        frame["volume"].to_numpy(),
        new_session,
        np.ones(count, dtype=bool),
        np.ones(count, dtype=bool),
        close,
        0,
        0,
        carry,
        rec,
        np.empty(count, dtype=np.int64),
    )
    assert carry[0] == close[-1]
    for i, slot in enumerate(STATE_SLOTS, start=1):
        row = rec[_loops.RECURSIVE_ROWS.index(slot.column)]
        assert carry[i] == row[-1], slot.name
        assert not np.isnan(carry[i]), slot.name


@pytest.mark.parametrize("sessions", [("pre", "regular", "post", "closed"), ("regular",)])
def test_state_read_back_from_the_rows_is_the_kernels(sessions: tuple[str, ...]) -> None:
    frame = random_series(9, 3120)  # ends on 2026-03-09, after the DST switch
    frame["dt"] = frame["ts"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
    frame["session"] = session_of(frame["ts"], "1min")
    # The series ends on post-market bars: with the regular choice, the indicator-bar
    # slots come from an earlier bar than the every-bar ones.
    assert frame["session"].iat[-1] == "post"
    values, state = compute_indicators(frame, sessions=sessions)
    rows = pd.concat([frame, values], axis=1)
    assert IndicatorState.can_resume_from(rows, sessions)
    assert IndicatorState.from_rows(rows, sessions) == state
