"""Payloads of the cleaning tests: a good bar, and one record per reject reason."""

from __future__ import annotations

import json

GOOD = {
    "schema_version": 1,
    "symbol": "BRK.B",
    "interval": "1min",
    "ts": "2026-03-10T14:30:00Z",
    "open": 10.0,
    "high": 11.0,
    "low": 9.5,
    "close": 10.5,
    "volume": 100,
    "source": "simulator",
}


def doc(**changes: object) -> bytes:
    d = {**GOOD, **changes}
    return json.dumps({k: v for k, v in d.items() if v is not ...}).encode()


CASES = [
    ("not_json", b'{"symbol": "AAPL"', "invalid_json"),
    ("not_utf8", b"\xff\xfe{}", "invalid_json"),
    ("json_array", b"[1, 2]", "invalid_json"),
    ("no_ts", doc(ts=...), "missing_field"),
    ("no_volume", doc(volume=...), "missing_field"),
    ("price_is_string", doc(open="10"), "bad_type"),
    ("price_is_bool", doc(close=True), "bad_type"),
    ("volume_is_float", doc(volume=1.5), "bad_type"),
    ("ts_unparseable", doc(ts="yesterday"), "bad_type"),
    ("ts_without_zone", doc(ts="2026-03-10T14:30:00"), "bad_type"),
    ("schema_v2", doc(schema_version=2), "unsupported_schema_version"),
    ("lowercase_symbol", doc(symbol="aapl"), "bad_symbol"),
    ("path_symbol", doc(symbol="AAPL/../X"), "bad_symbol"),
    ("long_symbol", doc(symbol="ABCDEFGHIJKLM"), "bad_symbol"),
    ("interval_2min", doc(interval="2min"), "unknown_interval"),
    ("ts_1980", doc(ts="1980-01-02T14:30:00Z"), "ts_out_of_range"),
    ("ts_far_future", doc(ts="2030-01-02T14:30:00Z"), "ts_out_of_range"),
    (
        "nan_price",
        b'{"schema_version":1,"symbol":"A","interval":"1min","ts":"2026-03-10T14:30:00Z","open":NaN,"high":11,"low":9,"close":10,"volume":1,"source":"x"}',
        "non_finite_price",
    ),
    ("inf_price", doc(high=float("inf")), "non_finite_price"),
    ("zero_price", doc(low=0.0), "non_positive_price"),
    ("negative_price", doc(close=-10.5), "non_positive_price"),
    ("high_below_close", doc(high=10.4), "high_below_open_close"),
    ("low_above_open", doc(low=10.1), "low_above_open_close"),
    ("negative_volume", doc(volume=-1), "negative_volume"),
    ("source_rejected", b'{"source":"finnhub","rejected":"malformed_frame"}', "source_rejected"),
    # A full, valid bar that its source marked as rejected is still quarantined.
    ("rejected_bar", doc(rejected="too_late"), "source_rejected"),
]
