"""The append fast path of the engine: live micro-batches whose bars all come after
their series' last stored bar.

Such bars depend only on the stored state of that last bar (its hidden `_` columns and
the closes before it), so the batch needs no merge with stored keys and no split of the
day partition by series: the stored tails of all affected series are found in one sort
of each partition, the kernel resumes per series on numpy arrays, and the new rows and
daily rows are built column-wise for all series at once. Everything else (late bars,
corrections, first bars of a series, a batch spanning sessions) is left to the general
path in engine.py, which this mirrors value for value: the tables hold the same rows. The new
rows are appended to the partition (`ProcessedZone.append_rows`), not rewritten with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from stockpipe import calendar
from stockpipe.processing.base import (
    NEEDED_ON_INDICATOR,
    NEEDED_ON_LAST,
    ORDINAL,
    STATE_SLOTS,
    BatchStats,
)
from stockpipe.processing.frames import BatchKeys
from stockpipe.processing.indicators import (
    CONTEXT,
    SEEDED_AT,
    IndicatorState,
    compute_indicators,
    indicator_mask,
    session_totals,
)
from stockpipe.processing.zone import ProcessedZone

Series = tuple[str, str]
_DAILY_IN = ("open", "high", "low", "close", "volume", "vwap")


class _View:
    """One bars partition sorted by (series, ts) without touching the frame: each
    series' rows are a contiguous range of `order`."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.ranges: dict[Series, tuple[int, int]] = {}
        self.order = np.empty(0, dtype=np.int64)
        self._cols: dict[str, np.ndarray] = {}
        if not len(frame):
            return
        sym_codes, syms = pd.factorize(frame["symbol"])
        int_codes, ints = pd.factorize(frame["interval"])
        code = sym_codes.astype(np.int64) * max(len(ints), 1) + int_codes
        ts = pd.DatetimeIndex(frame["ts"]).as_unit("ns").asi8
        self.order = np.lexsort((ts, code))
        sorted_code = code[self.order]
        starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1]])
        ends = np.r_[starts[1:], len(sorted_code)]
        first_rows = self.order[starts]
        for lo, hi, row in zip(starts.tolist(), ends.tolist(), first_rows.tolist(), strict=True):
            if sym_codes[row] < 0 or int_codes[row] < 0:
                continue  # a row without a series key belongs to no batch series
            self.ranges[(syms[sym_codes[row]], ints[int_codes[row]])] = (lo, hi)

    def rows(self, series: Series) -> np.ndarray | None:
        """Row positions of `series` in the frame, oldest first (None if it has none)."""
        found = self.ranges.get(series)
        return None if found is None else self.order[found[0] : found[1]]

    def col(self, name: str) -> np.ndarray:
        if name not in self._cols:
            if name == "ts":
                self._cols[name] = pd.DatetimeIndex(self.frame["ts"]).as_unit("ns").asi8
            elif name == "session":
                self._cols[name] = self.frame[name].to_numpy(dtype=object)
            elif name == "volume":
                self._cols[name] = self.frame[name].to_numpy()
            else:
                self._cols[name] = self.frame[name].to_numpy(dtype=float)
        return self._cols[name]


class _Plan:
    """One series' stored context: the parts `engine._context` would gather."""

    def __init__(
        self, series: Series, parts: list[tuple[str, _View, np.ndarray]], use: np.ndarray
    ) -> None:
        self.series = series
        self.parts = parts  # (dt, view, row positions), oldest dt first
        self.use = use  # indicator bars among the parts' rows, in order


def append_batch(
    side: ProcessedZone, batch: BatchKeys, stats: BatchStats, sessions: Sequence[str]
) -> set[Series]:
    """Process every series of the batch that qualifies for the fast path; return them.

    `sessions` chooses the indicator bars.
    """
    views: dict[str, _View] = {}

    def view(dt: str) -> _View:
        if dt not in views:
            views[dt] = _View(side.bars.get(dt))
        return views[dt]

    dts_all = side.bars.dts()
    plans: dict[str, list[_Plan]] = {}
    for series, (lo, hi) in batch.series.items():  # in sorted order
        dts = set(batch.dt[lo:hi].tolist())
        if len(dts) != 1:
            continue
        dt0 = dts.pop()
        plan = _plan(side, series, dt0, int(batch.ts[lo]), view, dts_all, sessions)
        if plan is not None:
            plans.setdefault(dt0, []).append(plan)
    done: set[Series] = set()
    for dt0, group in sorted(plans.items()):
        _append(side, dt0, group, batch, stats, sessions)
        done.update(p.series for p in group)
    return done


def _plan(
    side: ProcessedZone,
    series: Series,
    dt0: str,
    t0: int,
    view: Callable[[str], _View],
    dts_all: list[str],
    sessions: Sequence[str],
) -> _Plan | None:
    """The stored context of `series` if its bars from `t0` (ns) on can be appended."""
    span = side.span(series)
    if span is not None and span[1] > dt0:
        return None  # the series has (or may have) rows in a later session
    here_view = view(dt0)
    here = here_view.rows(series)
    parts: list[tuple[str, _View, np.ndarray]] = []
    if here is not None:
        if here_view.col("ts")[here[-1]] >= t0:
            return None  # a late bar or a correction: the general path merges it
        parts.append((dt0, here_view, here))
    # The walk back mirrors engine._context, so the same rows give the state and the
    # previous trading day's regular close.
    if span is not None and span[0] < dt0:
        have = 0 if here is None else int(indicator_mask(here_view.col("session")[here],
                                                         sessions).sum())  # fmt: skip
        has_prev = reached_start = False
        for dt in reversed([d for d in dts_all if span[0] <= d < dt0]):
            if has_prev and (reached_start or have >= CONTEXT):
                break
            v = view(dt)
            rows = v.rows(series)
            if rows is None:
                continue
            parts.insert(0, (dt, v, rows))
            session = v.col("session")[rows]
            have += int(indicator_mask(session, sessions).sum())
            has_prev = has_prev or bool((session == "regular").any())
            n = v.col(ORDINAL)[rows]
            if np.isnan(n).all():
                return None  # int() of a NULL minimum: left to the general path
            reached_start = reached_start or int(np.nanmin(n)) <= 0
    if not parts:
        return None  # the first bars of a series
    ts = np.concatenate([v.col("ts")[r] for _, v, r in parts])
    if len(ts) > 1 and not (np.diff(ts) > 0).all():
        return None  # stored rows out of session order: let the general path sort them
    _dt, last_view, last_rows = parts[-1]
    last = last_rows[-1]
    if any(np.isnan(last_view.col(c)[last]) for c in NEEDED_ON_LAST):
        return None
    n_last = int(last_view.col(ORDINAL)[last])
    use = np.concatenate([indicator_mask(v.col("session")[r], sessions) for _, v, r in parts])
    if n_last < SEEDED_AT or int(use.sum()) < min(n_last + 1, CONTEXT):
        return None
    ind_view, ind = _last_indicator_bar(parts, use)
    if any(np.isnan(ind_view.col(c)[ind]) for c in NEEDED_ON_INDICATOR):
        return None
    return _Plan(series, parts, use)


def _last_indicator_bar(
    parts: list[tuple[str, _View, np.ndarray]], use: np.ndarray
) -> tuple[_View, int]:
    """The view and row of the last indicator bar among the parts (one exists)."""
    at = int(np.flatnonzero(use)[-1])
    for _, v, rows in parts:
        if at < len(rows):
            return v, int(rows[at])
        at -= len(rows)
    raise AssertionError("no indicator bar in the plan")


def _state(plan: _Plan) -> IndicatorState:
    """`IndicatorState.from_rows` of the plan's context rows, from the arrays."""
    dt, v, rows = plan.parts[-1]
    last = rows[-1]
    n = int(v.col(ORDINAL)[last]) + 1
    closes = np.concatenate([pv.col("close")[r] for _, pv, r in plan.parts])[plan.use]
    iv, ind = _last_indicator_bar(plan.parts, plan.use)
    return IndicatorState.of(
        n,
        tuple(float(c) for c in closes[-min(n, CONTEXT) :]),
        dt,
        (
            v.col(slot.column)[last] if slot.every_bar else iv.col(slot.column)[ind]
            for slot in STATE_SLOTS
        ),
    )


def _append(
    side: ProcessedZone,
    dt0: str,
    plans: list[_Plan],
    batch: BatchKeys,
    stats: BatchStats,
    sessions: Sequence[str],
) -> None:
    """Compute and stage the new bars and daily rows of `plans` (all in session dt0)."""
    # Every key is new: the first arrival created it, the last one wins (_merge). The
    # frame is built from column slices: no per-bar object (issue 21).
    keys = np.concatenate([np.arange(*batch.series[plan.series]) for plan in plans])
    bounds = [0, *np.cumsum([np.subtract(*batch.series[p.series][::-1]) for p in plans]).tolist()]
    stats.duplicates += int((batch.versions[keys] - 1).sum())
    stats.kept += len(keys)
    new = batch.frame(keys)
    new["dt"] = dt0
    # One calendar lookup per interval for all series at once.
    session = np.empty(len(new), dtype=object)
    for interval in new["interval"].unique():
        rows = (new["interval"] == interval).to_numpy()
        session[rows] = calendar.session_of(new["ts"][rows], str(interval))
    new["session"] = session
    # The kernel's frames keep new's index, so one concat lines them up with its rows.
    computed = pd.concat(
        [
            compute_indicators(new.iloc[lo:hi], _state(plan), sessions)[0]
            for plan, lo, hi in zip(plans, bounds[:-1], bounds[1:], strict=True)
        ]
    )
    new = pd.concat([new, computed], axis=1)

    side.append_rows(dt0, new)  # every key is new: one more data file, not a rewrite
    _daily(side, dt0, plans, new, bounds)
    for plan in plans:
        side.widen(plan.series, dt0, dt0)


def _daily(
    side: ProcessedZone, dt0: str, plans: list[_Plan], new: pd.DataFrame, bounds: list[int]
) -> None:
    """engine's `compute_daily(ctx in dt0 + fresh, prev_close)` for every plan at once."""
    cols: dict[str, list[np.ndarray]] = {name: [] for name in (*_DAILY_IN, "session")}
    group: list[np.ndarray] = []
    prev_close = np.full(len(plans), np.nan)
    for i, plan in enumerate(plans):
        for dt, v, rows in plan.parts:
            if dt == dt0:
                for name in (*_DAILY_IN, "session"):
                    cols[name].append(v.col(name)[rows])
                group.append(np.full(len(rows), i))
            else:
                # The last regular close before dt0 (parts are oldest first).
                regular = rows[v.col("session")[rows] == "regular"]
                if len(regular):
                    prev_close[i] = v.col("close")[regular[-1]]
    for name in (*_DAILY_IN, "session"):
        cols[name].append(new[name].to_numpy())
    group.append(np.repeat(np.arange(len(plans)), np.diff(bounds)))
    # Stored rows of a group precede its new ones and each part is in ts order, so
    # first/last below see each session's bars in time order, as compute_daily does.
    rows = pd.DataFrame({name: np.concatenate(parts) for name, parts in cols.items()})
    totals = session_totals(rows, pd.Series(np.concatenate(group)))
    have = totals.index.to_numpy()  # plans with a regular bar in dt0
    close = totals["close"].to_numpy()
    change = close - prev_close[have]
    daily = pd.DataFrame(
        {
            "dt": dt0,
            "symbol": [plans[g].series[0] for g in have],
            "interval": [plans[g].series[1] for g in have],
            **{name: totals[name].to_numpy() for name in totals.columns},
            "change": change,
            "change_pct": 100.0 * change / prev_close[have],
        }
    )
    frame = side.daily.get(dt0)
    mine = pd.MultiIndex.from_arrays([frame["symbol"], frame["interval"]]).isin(
        [p.series for p in plans]
    )
    kept = frame[~mine]
    if daily.empty:
        if mine.any():
            side.daily.put(dt0, kept)
    else:
        side.daily.put(dt0, pd.concat([kept, daily], ignore_index=True) if len(kept) else daily)
