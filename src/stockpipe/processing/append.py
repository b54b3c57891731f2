"""The append fast path of the engine: batches whose bars all come after their series'
last stored bar.

Such bars depend only on the stored state of that last bar (its hidden `_` columns and
the closes before it), so the batch needs no merge with stored keys and no split of the
day partition by series: the stored tails of all affected series are found in one sort
of each partition, the kernel resumes per series on numpy arrays, and the new rows and
daily rows are built column-wise for all series at once. The new bars may span several
session dates; a series without resumable state (its first bars, or a young series) is
computed from its first stored bar, as the general path does. Everything else (late
bars, corrections, odd stored state) is left to the general path in engine.py, which this
mirrors value for value: the tables hold the same rows. The new rows are appended to
their partitions (`ProcessedZone.append_rows`), not rewritten with them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from stockpipe import calendar
from stockpipe.contract import INDICATOR_COLUMNS
from stockpipe.processing import _loops
from stockpipe.processing.base import (
    NEEDED_ON_INDICATOR,
    NEEDED_ON_LAST,
    ORDINAL,
    STATE_COLUMNS,
    STATE_SLOTS,
    BatchStats,
)
from stockpipe.processing.frames import BatchKeys
from stockpipe.processing.indicators import (
    CARRY,
    CONTEXT,
    SEEDED_AT,
    IndicatorState,
    indicator_mask,
    session_totals,
)
from stockpipe.processing.zone import ProcessedZone

Series = tuple[str, str]
_DAILY_IN = ("open", "high", "low", "close", "volume", "vwap")


class _View:
    """One bars partition indexed by series without touching the frame: each series'
    row positions in the frame, in ts order."""

    def __init__(self, frame: pd.DataFrame, rows: dict[Series, np.ndarray] | None = None) -> None:
        self.frame = frame
        self._rows = _series_rows(frame, 0) if rows is None else rows
        self._cols: dict[str, np.ndarray] = {}

    @classmethod
    def of(cls, side: ProcessedZone, dt: str) -> _View:
        """The view of partition `dt`, from the one kept with the zone when it can be: the
        same frame, or that frame with the rows the last flush appended after it (the fast
        path appends only bars after each series' stored ones, so each series' positions
        extend in ts order); anything else (a rewrite, a compaction, a re-read) is indexed
        anew."""
        frame = side.bars.get(dt)
        kept: _View | None = side.views.get(dt)
        added = side.bars.added.get(dt)
        if kept is not None and kept.frame is frame:
            view = kept
        elif kept is not None and added is not None and len(frame) == len(kept.frame) + len(added):
            view = cls(frame, dict(kept._rows))
            for series, positions in _series_rows(
                frame.iloc[len(kept.frame) :], len(kept.frame)
            ).items():
                before = view._rows.get(series)
                view._rows[series] = (
                    positions if before is None else np.concatenate([before, positions])
                )
        else:
            view = cls(frame)
        side.views[dt] = view
        return view

    def rows(self, series: Series) -> np.ndarray | None:
        """Row positions of `series` in the frame, oldest first (None if it has none)."""
        return self._rows.get(series)

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


def _series_rows(frame: pd.DataFrame, offset: int) -> dict[Series, np.ndarray]:
    """Each series' row positions in `frame` (plus `offset`), in ts order."""
    out: dict[Series, np.ndarray] = {}
    if not len(frame):
        return out
    sym_codes, syms = pd.factorize(frame["symbol"])
    int_codes, ints = pd.factorize(frame["interval"])
    code = sym_codes.astype(np.int64) * max(len(ints), 1) + int_codes
    ts = pd.DatetimeIndex(frame["ts"]).as_unit("ns").asi8
    order = np.lexsort((ts, code))
    sorted_code = code[order]
    starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1]])
    ends = np.r_[starts[1:], len(sorted_code)]
    for lo, hi, row in zip(starts.tolist(), ends.tolist(), order[starts].tolist(), strict=True):
        if sym_codes[row] < 0 or int_codes[row] < 0:
            continue  # a row without a series key belongs to no batch series
        out[(syms[sym_codes[row]], ints[int_codes[row]])] = order[lo:hi] + offset
    return out


class _Plan:
    """One series' stored context: the parts `engine._context` would gather.

    `resume` is False for a series without resumable state (its first bars, or fewer
    than SEEDED_AT + 1 indicator bars stored): the kernel then runs from the first of
    the parts' rows, as `engine._recompute` does, and only the new rows are kept.
    """

    def __init__(
        self,
        series: Series,
        parts: list[tuple[str, _View, np.ndarray]],
        use: np.ndarray,
        *,
        resume: bool,
    ) -> None:
        self.series = series
        self.parts = parts  # (dt, view, row positions), oldest dt first
        self.use = use  # indicator bars among the parts' rows, in order
        self.resume = resume


def append_batch(
    side: ProcessedZone, batch: BatchKeys, stats: BatchStats, sessions: Sequence[str]
) -> set[Series]:
    """Process every series of the batch that qualifies for the fast path; return them.

    `sessions` chooses the indicator bars.
    """

    def view(dt: str) -> _View:
        return _View.of(side, dt)  # indexed once per batch, kept with the zone

    dts_all = side.bars.dts()
    plans: list[_Plan] = []
    for series, (lo, _hi) in batch.series.items():  # in sorted order
        # Keys are in ts order, so the first one has the earliest session date.
        dt0 = str(batch.dt[lo])
        plan = _plan(side, series, dt0, int(batch.ts[lo]), view, dts_all, sessions)
        if plan is not None:
            plans.append(plan)
    if plans:
        _append(side, plans, batch, stats, sessions)
    return {p.series for p in plans}


def _plan(
    side: ProcessedZone,
    series: Series,
    dt0: str,
    t0: int,
    view: Callable[[str], _View],
    dts_all: list[str],
    sessions: Sequence[str],
) -> _Plan | None:
    """The stored context of `series` if its bars from `t0` (ns, in session dt0) on can
    be appended."""
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
        # The first bars of a series: the kernel starts from the empty state.
        return _Plan(series, parts, np.zeros(0, dtype=bool), resume=False)
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
        # A young series: recomputed from its first stored bar (engine._recompute).
        return _Plan(series, parts, use, resume=False)
    ind_view, ind = _last_indicator_bar(parts, use)
    if any(np.isnan(ind_view.col(c)[ind]) for c in NEEDED_ON_INDICATOR):
        return None
    return _Plan(series, parts, use, resume=True)


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
    plans: list[_Plan],
    batch: BatchKeys,
    stats: BatchStats,
    sessions: Sequence[str],
) -> None:
    """Compute and stage the new bars and daily rows of `plans`."""
    # Every key is new: the first arrival created it, the last one wins (_merge). The
    # frame is built from column slices: no per-bar object (issue 21).
    ranges = [batch.series[plan.series] for plan in plans]
    keys = np.concatenate([np.arange(lo, hi) for lo, hi in ranges])
    bounds = [0, *np.cumsum([hi - lo for lo, hi in ranges]).tolist()]
    stats.duplicates += int((batch.versions[keys] - 1).sum())
    stats.kept += len(keys)
    new = batch.frame(keys)
    new["dt"] = batch.dt[keys]
    # One calendar lookup per interval for all series at once.
    session = np.empty(len(new), dtype=object)
    for interval in new["interval"].unique():
        rows = (new["interval"] == interval).to_numpy()
        session[rows] = calendar.session_of(new["ts"][rows], str(interval))
    new["session"] = session
    new = pd.concat([new, _compute(plans, new, bounds, sessions)], axis=1)

    dts = new["dt"].to_numpy(dtype=object)
    touched = sorted(set(dts.tolist()))
    for dt in touched:  # every key is new: one more data file per dt, not a rewrite
        side.append_rows(dt, new if len(touched) == 1 else new[dts == dt].reset_index(drop=True))
    _daily(side, plans, new, bounds)
    for plan, lo, hi in zip(plans, bounds[:-1], bounds[1:], strict=True):
        side.widen(plan.series, str(dts[lo]), str(dts[hi - 1]))


def _compute(
    plans: list[_Plan], new: pd.DataFrame, bounds: list[int], sessions: Sequence[str]
) -> pd.DataFrame:
    """The kernel's columns (compute_indicators') for the new rows of every plan, indexed
    as `new`: one compiled call over all series, stacked on contiguous arrays.

    A resumed series stacks its new rows after its state's closes; one without
    resumable state stacks its stored rows before its new ones, from the empty state
    (engine._recompute), and their outputs are dropped.
    """
    count = len(plans)
    first, n0 = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
    carry = np.empty((count, len(CARRY)))
    carry[:] = [np.nan, *(slot.start for slot in STATE_SLOTS)]
    state_dt = np.full(count, "", dtype=object)
    prior: list[np.ndarray] = []  # each series' closes before its stacked rows
    stacked: dict[str, list[np.ndarray]] = {name: [] for name in _KERNEL_IN}
    keeps: list[np.ndarray] = []
    given = {name: new[name].to_numpy() for name in _KERNEL_IN}
    for i, (plan, lo, hi) in enumerate(zip(plans, bounds[:-1], bounds[1:], strict=True)):
        stored = 0
        if plan.resume:
            state = _state(plan)
            prior.append(np.asarray(state.closes, dtype=float))
            first[i], n0[i], state_dt[i] = len(state.closes), state.n, state.dt
            carry[i] = state.carry()
        else:
            prior.append(np.empty(0))
            for dt, v, rows in plan.parts:
                stacked["dt"].append(np.full(len(rows), dt, dtype=object))
                for name in _KERNEL_IN[1:]:
                    stacked[name].append(v.col(name)[rows])
                stored += len(rows)
        for name in _KERNEL_IN:
            stacked[name].append(given[name][lo:hi])
        keeps.append(np.r_[np.zeros(stored, dtype=bool), np.ones(hi - lo, dtype=bool)])
    keep = np.concatenate(keeps)
    sizes = np.array([len(k) for k in keeps])
    rows_at = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    col = {name: np.concatenate(parts) for name, parts in stacked.items()}
    close, session, dts = col["close"].astype(float), col["session"], col["dt"].astype(str)
    use = indicator_mask(session, sessions)
    # Each series' closes: its prior closes, then its indicator bars' closes.
    closes = np.concatenate(
        [part for p, lo, hi in zip(prior, rows_at[:-1], rows_at[1:], strict=True)
         for part in (p, close[lo:hi][use[lo:hi]])]
    )  # fmt: skip
    used = np.add.reduceat(use.astype(np.int64), rows_at[:-1])  # every series has a row
    closes_at = np.r_[0, np.cumsum(first + used)]
    # Session values restart where the date differs from the bar before, or from the
    # state's date at a series' first row.
    new_session = np.empty(len(close), dtype=bool)
    new_session[1:] = dts[1:] != dts[:-1]
    new_session[rows_at[:-1]] = dts[rows_at[:-1]] != state_dt.astype(str)
    total = len(close)
    rec = np.empty((len(_loops.RECURSIVE_ROWS), total))
    ordinal = np.empty(total, dtype=np.int64)
    windows = np.empty((len(_loops.WINDOW_ROWS), total))
    _loops.multi_pass(
        np.stack([close, *(np.asarray(col[c], dtype=float) for c in ("high", "low", "volume"))]),
        np.stack([new_session, use, np.asarray(session == "regular", dtype=bool)]),
        rows_at,
        np.ascontiguousarray(closes, dtype=float),
        closes_at.astype(np.int64),
        first,
        n0,
        carry,
        rec,
        ordinal,
        windows,
    )
    columns: dict[str, np.ndarray] = {
        **dict(zip(_loops.RECURSIVE_ROWS, rec[:, keep], strict=True)),
        **dict(zip(_loops.WINDOW_ROWS, windows[:, keep], strict=True)),
        ORDINAL: ordinal[keep],
    }
    return pd.DataFrame(
        {name: columns[name] for name in (*INDICATOR_COLUMNS, *STATE_COLUMNS)},
        index=new.index,
        copy=False,
    )


_KERNEL_IN = ("dt", "session", "high", "low", "close", "volume")


def _daily(side: ProcessedZone, plans: list[_Plan], new: pd.DataFrame, bounds: list[int]) -> None:
    """engine's `compute_daily(ctx in dt0 + fresh, prev_close)` for every plan at once,
    and its daily rows of each session date the new rows touch."""
    cols: dict[str, list[np.ndarray]] = {name: [] for name in (*_DAILY_IN, "session")}
    plan_of: list[np.ndarray] = []
    dt_of: list[np.ndarray] = []
    new_dt = new["dt"].to_numpy(dtype=object)
    prev_close = np.full(len(plans), np.nan)
    # A series whose day dt0 already has a daily row: that row holds the aggregates of its
    # stored rows of dt0 (first, max, min, last, sums, count), so only the new rows are
    # aggregated and combined with it, instead of every stored bar of the day again.
    stored = _StoredDaily(side, new_dt[bounds[0]])
    folded: dict[int, int] = {}  # plan -> row of its stored daily row in `stored`
    for i, (plan, lo) in enumerate(zip(plans, bounds, strict=False)):
        dt0 = new_dt[lo]
        at = stored.row(dt0, plan.series)
        here = [(v, rows) for dt, v, rows in plan.parts if dt == dt0]
        if at is not None and here and stored.sums_up(at, *here[0]):
            folded[i] = at
        for dt, v, rows in plan.parts:
            if dt == dt0:
                if i in folded:
                    continue  # stands in the stored daily row
                for name in (*_DAILY_IN, "session"):
                    cols[name].append(v.col(name)[rows])
                plan_of.append(np.full(len(rows), i))
                dt_of.append(np.full(len(rows), dt, dtype=object))
            else:
                # The last regular close before dt0 (parts are oldest first).
                regular = rows[v.col("session")[rows] == "regular"]
                if len(regular):
                    prev_close[i] = v.col("close")[regular[-1]]
    for name in (*_DAILY_IN, "session"):
        cols[name].append(new[name].to_numpy())
    plan_of.append(np.repeat(np.arange(len(plans)), np.diff(bounds)))
    dt_of.append(new_dt)
    # Stored rows of a group precede its new ones and each part is in ts order, so
    # first/last below see each session's bars in time order, as compute_daily does.
    rows = pd.DataFrame({name: np.concatenate(parts) for name, parts in cols.items()})
    days, dt_code = np.unique(np.concatenate(dt_of), return_inverse=True)
    group = np.concatenate(plan_of) * len(days) + dt_code  # (plan, dt), in that order
    totals = session_totals(rows, pd.Series(group))
    if folded:
        dt_code_of = {d: k for k, d in enumerate(days.tolist())}
        groups = {i * len(days) + dt_code_of[new_dt[bounds[i]]]: at for i, at in folded.items()}
        totals = _fold(totals, stored.frame, groups, rows, group)
    have = totals.index.to_numpy()  # (plan, dt) groups with a regular bar
    plan_have = have // len(days)
    close = totals["close"].to_numpy()
    # compute_daily's change: against the series' previous daily row, the first one
    # against the last regular close before dt0.
    previous = np.r_[np.nan, close[:-1]]
    first = plan_have != np.r_[-1, plan_have[:-1]]
    previous[first] = prev_close[plan_have[first]]
    change = close - previous
    daily = pd.DataFrame(
        {
            "dt": days[have % len(days)],
            "symbol": [plans[g].series[0] for g in plan_have],
            "interval": [plans[g].series[1] for g in plan_have],
            **{name: totals[name].to_numpy() for name in totals.columns},
            "change": change,
            "change_pct": 100.0 * change / previous,
        }
    )
    touching: dict[str, list[Series]] = {}
    for plan, lo, hi in zip(plans, bounds[:-1], bounds[1:], strict=True):
        for dt in sorted(set(new_dt[lo:hi].tolist())):
            touching.setdefault(dt, []).append(plan.series)
    for dt, series in sorted(touching.items()):
        frame = side.daily.get(dt)
        mine = pd.MultiIndex.from_arrays([frame["symbol"], frame["interval"]]).isin(series)
        kept = frame[~mine]
        add = daily[daily["dt"] == dt].reset_index(drop=True) if len(touching) > 1 else daily
        if add.empty:
            if mine.any():
                side.daily.put(dt, kept)
        else:
            side.daily.put(dt, pd.concat([kept, add], ignore_index=True) if len(kept) else add)


class _StoredDaily:
    """The daily rows held for one session date, found by series."""

    def __init__(self, side: ProcessedZone, dt: str) -> None:
        self.dt = dt
        self.frame = side.daily.get(dt).reset_index(drop=True)
        keys = zip(self.frame["symbol"].tolist(), self.frame["interval"].tolist(), strict=True)
        self._at = {key: i for i, key in enumerate(keys)}
        self._count = self.frame["bar_count"].to_numpy()
        self._volume = self.frame["volume"].to_numpy()
        self._close = self.frame["close"].to_numpy()

    def row(self, dt: str, series: Series) -> int | None:
        return self._at.get(series) if dt == self.dt else None

    def sums_up(self, at: int, view: _View, rows: np.ndarray) -> bool:
        """Whether daily row `at` is the aggregate of these stored bars (its count, volume
        and close are theirs). Not after a crash between a batch's daily file and its
        bars file: the daily row then counts bars the bars partition does not hold yet,
        and the batch, read again, must be aggregated from the bars."""
        regular = rows[view.col("session")[rows] == "regular"]
        if len(regular) != int(self._count[at]) or not len(regular):
            return False
        volume = int(view.col("volume")[regular].astype("int64").sum())
        return volume == int(self._volume[at]) and bool(
            view.col("close")[regular[-1]] == self._close[at]
        )


_LAST = ("close", "vwap")
_SUMS = ("volume", "bar_count", "pre_volume", "post_volume")


def _fold(
    totals: pd.DataFrame,
    daily: pd.DataFrame,
    groups: dict[int, int],
    rows: pd.DataFrame,
    group: np.ndarray,
) -> pd.DataFrame:
    """`session_totals` of (stored rows + new rows) for the `groups` (group -> row of
    `daily`) whose stored rows are summed up by their daily row and left out of `rows`:
    first of the stored, last of the new (when they have a regular bar), max, min and
    sums of both. Exact: the same values `session_totals` takes from the rows."""
    keys = np.fromiter(groups, dtype=np.int64, count=len(groups))
    at = np.fromiter(groups.values(), dtype=np.int64, count=len(groups))
    old = {name: daily[name].to_numpy()[at] for name in ("open", *_LAST, "high", "low", *_SUMS)}
    index = totals.index.to_numpy()
    pos = np.searchsorted(index, keys)
    found = np.zeros(len(keys), dtype=bool)
    if len(index):
        found = (pos < len(index)) & (index[np.minimum(pos, len(index) - 1)] == keys)
    out = {name: old[name].copy() for name in old}
    if found.any():
        got = totals.iloc[pos[found]]
        for name in _LAST:
            out[name][found] = got[name].to_numpy()
        out["high"][found] = np.maximum(old["high"][found], got["high"].to_numpy())
        out["low"][found] = np.minimum(old["low"][found], got["low"].to_numpy())
        for name in _SUMS:
            out[name][found] = old[name][found] + got[name].to_numpy()
    if (~found).any():
        # New rows without a regular bar (post-market): only their volumes count.
        volume = rows["volume"].to_numpy().astype("int64")
        session = rows["session"].to_numpy(dtype=object)
        for name in ("pre", "post"):
            mine = session == name
            sums = pd.Series(volume[mine]).groupby(group[mine]).sum()
            add = sums.reindex(keys[~found], fill_value=0).to_numpy().astype("int64")
            out[f"{name}_volume"][~found] += add
    folded = pd.DataFrame(
        {name: out[name] for name in totals.columns}, index=pd.Index(keys, dtype=np.int64)
    )
    for name in totals.columns:
        folded[name] = folded[name].astype(totals[name].dtype)
    rest = totals[~np.isin(index, keys)]
    return pd.concat([rest, folded]).sort_index() if len(rest) else folded.sort_index()
