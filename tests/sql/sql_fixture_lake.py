"""A hand-made fixture lake with known values, written with the contract schemas.

Sessions are 2026-01-05 and 2026-01-06 (New York winter, UTC-5), bars at 14:30, 14:31,
15:00 and 15:01 UTC so the heatmap has two hour buckets per session. Tests compute their
expected values from the constants below, never by running the SQL under test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from stockpipe.contract import BARS, DAILY, QUARANTINE
from stockpipe.lake.local import LocalLake
from stockpipe.processing.latest import rebuild_latest

D1, D2 = "2026-01-05", "2026-01-06"
MINUTES = ((14, 30), (14, 31), (15, 0), (15, 1))

# (symbol, dt) -> (opens, closes, volumes), one entry per bar time in MINUTES.
SESSIONS: dict[tuple[str, str], tuple[list[float], list[float], list[int]]] = {
    ("AAPL", D1): ([100, 101, 102, 101], [101, 102, 101, 103], [1000, 1100, 1200, 1300]),
    ("AAPL", D2): ([103, 104, 105, 104], [104, 105, 104, 106], [900, 800, 700, 600]),
    ("MSFT", D1): ([200, 199, 198, 199], [199, 198, 199, 197], [500, 600, 700, 800]),
    ("MSFT", D2): ([197, 196, 195, 196], [196, 195, 196, 194], [400, 300, 200, 100]),
    ("TSLA", D1): ([50, 51, 52, 53], [51, 52, 53, 52], [2000, 2100, 2200, 2300]),
}
# AAPL's sma_20 crosses above sma_50 at D1 15:00 (golden) and back below at 15:01 (death).
SMA = {("AAPL", D1): ([10, 11, 12, 13], [11, 11, 11.5, 13.5])}

# (symbol, dt) -> (close, volume, change, change_pct, bar_count) of the daily table.
DAILY_ROWS = {
    ("AAPL", D1): (103.0, 4600, None, None, 4),
    ("MSFT", D1): (197.0, 2600, 2.0, 1.0, 4),
    ("TSLA", D1): (52.0, 8600, -1.6, -3.0, 4),
    ("AAPL", D2): (106.0, 3000, 2.06, 2.0, 4),
    ("MSFT", D2): (194.0, 1000, -2.955, -1.5, 4),
    ("TSLA", D2): (52.26, 500, 0.26, 0.5, 1),
}


def bar_ts(dt: str, i: int) -> datetime:
    y, m, d = (int(x) for x in dt.split("-"))
    hour, minute = MINUTES[i]
    return datetime(y, m, d, hour, minute, tzinfo=UTC)


def vwap_of(close: float) -> float:
    return close - 0.25


def bar_rows() -> list[dict]:
    rows = []
    for (symbol, dt), (opens, closes, volumes) in SESSIONS.items():
        s20, s50 = SMA.get((symbol, dt), ([None] * 4, [None] * 4))
        hi, lo = float("-inf"), float("inf")
        for i in range(4):
            o, c = float(opens[i]), float(closes[i])
            high, low = max(o, c) + 0.5, min(o, c) - 0.5
            hi, lo = max(hi, high), min(lo, low)
            rows.append(
                {
                    "symbol": symbol,
                    "interval": "1min",
                    "ts": bar_ts(dt, i),
                    "open": o,
                    "high": high,
                    "low": low,
                    "close": c,
                    "volume": volumes[i],
                    "source": "simulator",
                    "session": "regular",  # 09:30-10:01 New York time
                    "sma_20": s20[i],
                    "sma_50": s50[i],
                    "vwap": vwap_of(c),
                    "session_high": hi,
                    "session_low": lo,
                    "ingest_shard": "shardId-000000000000",
                    "ingest_seq": str(i),
                    "dt": dt,
                }
            )
    return rows


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(
        [{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema
    )


def write_fixture_lake(root: Path) -> LocalLake:
    lake = LocalLake(root)
    rows = bar_rows()
    for dt in (D1, D2):
        day = [r for r in rows if r["dt"] == dt]
        first = _table([r for r in day if r["symbol"] != "TSLA"], BARS.arrow_schema())
        # Internal columns may exist in the files and must never reach SQL users.
        first = first.append_column("_ingest_debug", pa.array(["x"] * first.num_rows))
        lake.write_parquet(f"processed-data/bars/dt={dt}/part-0.parquet", first)
        tsla = [r for r in day if r["symbol"] == "TSLA"]
        if tsla:
            lake.write_parquet(
                f"processed-data/bars/dt={dt}/part-1.parquet", _table(tsla, BARS.arrow_schema())
            )
        daily = [
            {
                "symbol": s,
                "interval": "1min",
                # The day's first regular open, as processing writes it (1.0 without bars).
                "open": float(SESSIONS[(s, dt)][0][0]) if (s, dt) in SESSIONS else 1.0,
                "high": 2.0,
                "low": 0.5,
                "close": v[0],
                "volume": v[1],
                "vwap": 1.5,
                "change": v[2],
                "change_pct": v[3],
                "bar_count": v[4],
                "pre_volume": 0,
                "post_volume": 0,
            }
            for (s, d), v in DAILY_ROWS.items()
            if d == dt
        ]
        lake.write_parquet(
            f"processed-data/daily/dt={dt}/part-0.parquet", _table(daily, DAILY.arrow_schema())
        )
    # The latest table, as the processing engine keeps it after each batch.
    rebuild_latest(lake)
    # A writer's half-written temporary file is invisible to readers.
    (root / f"processed-data/bars/dt={D2}/.tmp-deadbeef").write_bytes(b"not parquet")
    quarantine = [
        {
            "reason": "invalid_json",
            "detail": "payload is not JSON",
            "payload": "{oops",
            "shard_id": "shardId-000000000001",
            "sequence_number": "7",
            "arrival_ts": datetime(2026, 1, 5, 14, 30, 5, tzinfo=UTC),
        },
        {
            "reason": "bad_price",
            "detail": "high < low",
            "payload": '{"symbol": "AAPL"}',
            "shard_id": "shardId-000000000001",
            "sequence_number": "9",
            "arrival_ts": datetime(2026, 1, 5, 14, 31, 5, tzinfo=UTC),
        },
    ]
    lake.write_parquet(
        f"quarantine/dt={D1}/part-0.parquet", _table(quarantine, QUARANTINE.arrow_schema())
    )
    raw_lines = [
        {
            "shard_id": "shardId-000000000000",
            "sequence_number": "1",
            "partition_key": "AAPL",
            "arrival_ts": "2026-01-05T14:30:01.000+00:00",
            "data": '{"symbol": "AAPL"}',
            "data_b64": None,
        },
        {
            "shard_id": "shardId-000000000000",
            "sequence_number": "2",
            "partition_key": "MSFT",
            "arrival_ts": "2026-01-05T14:30:02.000+00:00",
            "data": None,
            "data_b64": "/w==",
        },
    ]
    lake.write_bytes(
        f"raw-data/dt={D1}/hour=14/shardId-000000000000-1.jsonl",
        "".join(json.dumps(r) + "\n" for r in raw_lines).encode(),
    )
    return lake
