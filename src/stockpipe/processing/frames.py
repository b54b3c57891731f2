"""Bars frames built column by column from clean bars.

Both paths of the engine (append.py and engine._merge) turn the winning version of each
new key into a row. Building one dict or tuple per bar and letting pandas pivot them is
part of the 16% issue 21 gives to per-bar lists and dicts; here each column is one list,
and the times are converted to ns UTC once for the whole column.

`BatchKeys` goes one step further for the append path (issue 21 item 3): it groups the
batch's `CleanColumns` by key with numpy and builds the rows from column slices, with no
`CleanBar` at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from stockpipe import calendar
from stockpipe.processing.base import CleanBar, position
from stockpipe.processing.cleaning import CleanColumns


def bars_frame(winners: Sequence[CleanBar], creators: Sequence[CleanBar]) -> pd.DataFrame:
    """One row per key: the values of `winners[i]`, created by `creators[i]`, in the
    column order the engine has always built new rows in.

    `ts` is datetime64[ns, UTC]; the other columns have the dtypes pandas infers for
    the same Python values (object for text, float64 prices, int64 volumes).
    """
    if len(winners) != len(creators):
        raise ValueError(f"{len(winners)} winners but {len(creators)} creators")
    ts = pd.DatetimeIndex(pd.to_datetime([b.ts for b in winners], utc=True)).as_unit("ns")
    columns: dict[str, object] = {
        "symbol": [b.symbol for b in winners],
        "interval": [b.interval for b in winners],
        "ts": ts,
        "open": [b.open for b in winners],
        "high": [b.high for b in winners],
        "low": [b.low for b in winners],
        "close": [b.close for b in winners],
        "volume": [b.volume for b in winners],
        "source": [b.source for b in winners],
        "ingest_shard": [b.shard_id for b in winners],
        "ingest_seq": [b.sequence_number for b in winners],
        "_created_shard": [b.shard_id for b in creators],
        "_created_seq": [b.sequence_number for b in creators],
    }
    return pd.DataFrame(columns)


class BatchKeys:
    """The clean bars of a batch grouped by key, on numpy arrays (issue 21 item 3).

    One stable sort on (series, ts) makes each series' keys, and each key's versions, a
    contiguous range, oldest key first and versions in arrival order (stream position,
    then input order), so the first version of a key created it and the last one wins.
    Series iterate in sorted (symbol, interval) order, as the engine has always done.
    """

    def __init__(self, columns: CleanColumns) -> None:
        self.columns = columns
        n = len(columns)
        sym_codes, syms = pd.factorize(columns.symbol, sort=True)
        int_codes, ints = pd.factorize(columns.interval, sort=True)
        code = sym_codes.astype(np.int64) * max(len(ints), 1) + int_codes
        ts = columns.ts.view(np.int64)
        order = np.lexsort((ts, code))  # stable: versions stay in input order
        code, ts = code[order], ts[order]
        starts = np.flatnonzero(np.r_[n > 0, (code[1:] != code[:-1]) | (ts[1:] != ts[:-1])])
        ends = np.r_[starts[1:], n][: len(starts)].astype(np.int64)
        counts = ends - starts
        for lo, hi in zip(starts[counts > 1].tolist(), ends[counts > 1].tolist(), strict=True):
            rows: list[int] = order[lo:hi].tolist()  # rare: several versions of one key
            pos = {i: position(columns.shard_id[i], columns.sequence_number[i]) for i in rows}
            order[lo:hi] = sorted(rows, key=pos.__getitem__)
        self.order = order
        self.winner = order[ends - 1]  # the row of each key's last version
        self.creator = order[starts]  # and of its first
        self.versions = counts
        key_ts = pd.to_datetime(ts[starts].view("datetime64[us]"), utc=True).as_unit("ns")
        self.ts = key_ts.asi8
        self.dt = calendar.session_dates(key_ts)
        self._row_starts = starts
        # Each series: its range of keys (and so of rows, through _row_starts).
        self.series: dict[tuple[str, str], tuple[int, int]] = {}
        key_code = code[starts]
        first = np.flatnonzero(np.r_[n > 0, key_code[1:] != key_code[:-1]])
        last = np.r_[first[1:], len(starts)][: len(first)]
        for lo, hi in zip(first.tolist(), last.tolist(), strict=True):
            row = order[starts[lo]]
            self.series[(syms[sym_codes[row]], ints[int_codes[row]])] = (lo, hi)

    def bars(self, series: tuple[str, str]) -> dict[datetime, list[CleanBar]]:
        """The versions of each key of `series`, as clean bars (the general path)."""
        lo, hi = self.series[series]
        row_end = self._row_starts[hi] if hi < len(self._row_starts) else len(self.order)
        out: dict[datetime, list[CleanBar]] = {}
        for bar in self.columns.take(self.order[self._row_starts[lo] : row_end]).to_bars():
            out.setdefault(bar.ts, []).append(bar)
        return out

    def frame(self, keys: npt.NDArray[np.intp]) -> pd.DataFrame:
        """`bars_frame` of the winners and creators of `keys`, from column slices."""
        c, won, made = self.columns, self.winner[keys], self.creator[keys]
        ts = pd.DatetimeIndex(pd.to_datetime(c.ts[won], utc=True)).as_unit("ns")
        columns: dict[str, object] = {
            "symbol": c.symbol[won],
            "interval": c.interval[won],
            "ts": ts,
            **{name: getattr(c, name)[won] for name in _VALUES},
            "ingest_shard": c.shard_id[won],
            "ingest_seq": c.sequence_number[won],
            "_created_shard": c.shard_id[made],
            "_created_seq": c.sequence_number[made],
        }
        return pd.DataFrame(columns)


_VALUES = ("open", "high", "low", "close", "volume", "source")
