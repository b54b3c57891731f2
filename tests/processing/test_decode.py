"""Bulk decoding: the canonical bar decodes to typed columns; anything else is left over."""

from __future__ import annotations

import json

import msgspec
import numpy as np
import pytest

from stockpipe.contract import RECORD_FIELDS
from stockpipe.processing.decode import BarPayload, decode_bars

BAR = {
    "schema_version": 1,
    "symbol": "MSFT",
    "interval": "1min",
    "ts": "2026-03-10T14:30:00Z",
    "open": 10.25,
    "high": 11,
    "low": 9.5,
    "close": 10.5,
    "volume": 1200,
    "source": None,
}


def payload(**changes: object) -> bytes:
    doc = {**BAR, **changes}
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


def test_the_payload_struct_has_exactly_the_record_fields_in_order() -> None:
    assert tuple(f.name for f in msgspec.structs.fields(BarPayload)) == RECORD_FIELDS


def test_good_payloads_become_typed_columns_in_order() -> None:
    out = decode_bars([payload(), payload(symbol="AAPL", volume=7, source="sim")])
    assert out.rows.tolist() == [0, 1] and out.failed.tolist() == []
    assert out["symbol"].tolist() == ["MSFT", "AAPL"]
    assert out["interval"].tolist() == ["1min", "1min"]
    assert out["ts"].tolist() == ["2026-03-10T14:30:00Z"] * 2
    # An integer price is read as the double it names, as json + float() would.
    assert out["high"].dtype == np.float64 and out["high"].tolist() == [11.0, 11.0]
    assert out["open"].tolist() == [10.25, 10.25] and out["low"].tolist() == [9.5, 9.5]
    assert out["close"].tolist() == [10.5, 10.5]
    assert out["volume"].dtype == np.int64 and out["volume"].tolist() == [1200, 7]
    assert out["schema_version"].tolist() == [1, 1]
    assert out["source"].tolist() == [None, "sim"]


LEFT_OVER = [
    ("not_json", b'{"symbol": "AAPL"'),
    ("not_utf8", b'{"source": "\xff"}'),
    ("array", b"[1, 2]"),
    ("missing_ts", payload(ts=...)),
    ("extra_origin", payload(origin="file a.csv line 3")),
    ("extra_rejected", payload(rejected="too_late")),
    ("string_price", payload(open="10")),
    ("bool_price", payload(close=True)),
    ("float_volume", payload(volume=1.0)),
    ("volume_past_int64", payload(volume=2**63)),
    ("version_past_int64", payload(schema_version=2**63)),
    ("version_below_int64", payload(schema_version=-(2**63) - 1)),
    ("volume_below_int64", payload(volume=-(2**63) - 1)),
    ("nan_literal", payload().replace(b'"open": 10.25', b'"open": NaN')),
    ("price_past_double", payload().replace(b'"open": 10.25', b'"open": 1e400')),
    ("null_symbol", payload(symbol=None)),
    ("lone_surrogate", payload().replace(b'"source": null', b'"source": "\\ud800"')),
    ("utf8_bom", b"\xef\xbb\xbf" + payload()),
    ("trailing_data", payload() + b" x"),
]


@pytest.mark.parametrize("data", [c[1] for c in LEFT_OVER], ids=[c[0] for c in LEFT_OVER])
def test_other_payloads_are_left_for_the_per_record_path(data: bytes) -> None:
    out = decode_bars([payload(), data, payload(volume=3)])
    assert out.failed.tolist() == [1]
    assert out.rows.tolist() == [0, 2]
    assert out["volume"].tolist() == [1200, 3]


def test_values_are_decoded_not_judged() -> None:
    # Value checks are cleaning's: a bad symbol or a negative volume still decodes.
    out = decode_bars([payload(symbol="aapl", volume=-5, schema_version=2, high=1.0)])
    assert out.rows.tolist() == [0]
    assert (out["symbol"][0], out["volume"][0], out["schema_version"][0]) == ("aapl", -5, 2)


def test_a_repeated_key_keeps_its_last_value_like_json() -> None:
    data = payload().replace(b'"volume": 1200', b'"volume": 1, "volume": 1200')
    assert json.loads(data)["volume"] == 1200
    assert decode_bars([data])["volume"].tolist() == [1200]


def test_an_empty_batch_decodes_to_empty_columns() -> None:
    out = decode_bars([])
    assert len(out.rows) == len(out.failed) == len(out["symbol"]) == len(out["open"]) == 0
