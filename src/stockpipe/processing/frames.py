"""Bars frames built column by column from clean bars.

Both paths of the engine (append.py and engine._merge) turn the winning version of each
new key into a row. Building one dict or tuple per bar and letting pandas pivot them is
part of the 16% issue 21 gives to per-bar lists and dicts; here each column is one list,
and the times are converted to ns UTC once for the whole column.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from stockpipe.processing.base import CleanBar


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
