"""Bulk decoding of stream payloads into columns: msgspec for the JSON, numpy for the result.

Only the canonical bar decodes here, and strictly: an object with exactly `RECORD_FIELDS`,
each of its JSON type (a price may be written as an integer, like `json` reads it). Any
other payload (invalid JSON, a missing or an extra field such as `rejected` or `origin`, a
float volume, a volume beyond int64) is left to `cleaning.clean`, record by record, which
names the exact reason. Decoding checks types only; `cleaning.clean_columns` checks values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Annotated, Any

import msgspec
import numpy as np
import numpy.typing as npt

# An integer outside int64 is `clean`'s to name (bad_type or the like), not a numpy overflow.
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class BarPayload(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The canonical bar JSON (`RECORD_FIELDS`, in order), as msgspec decodes it."""

    schema_version: _Int64
    symbol: str
    interval: str
    ts: str
    open: float
    high: float
    low: float
    close: float
    volume: _Int64
    source: str | None


_DECODER = msgspec.json.Decoder(BarPayload)


# numpy dtype of each numeric field; the strings (and source's None) are object arrays.
_NUMERIC: dict[str, type] = {
    "schema_version": np.int64,
    "open": np.float64,
    "high": np.float64,
    "low": np.float64,
    "close": np.float64,
    "volume": np.int64,
}


@dataclass(frozen=True, slots=True)
class DecodedBars:
    """Columns of the payloads that decoded, with their positions in the batch.

    `rows[i]` is the position of row i; `failed` holds the positions of the payloads that
    did not decode, in order. `decoded["open"]` is a column, one per `RECORD_FIELDS` name.
    """

    rows: npt.NDArray[np.int64]
    failed: npt.NDArray[np.int64]
    columns: dict[str, npt.NDArray[Any]]

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        return self.columns[name]


def _column(bars: list[BarPayload], name: str) -> npt.NDArray[Any]:
    values = map(attrgetter(name), bars)
    if name in _NUMERIC:
        return np.fromiter(values, dtype=_NUMERIC[name], count=len(bars))
    out = np.empty(len(bars), dtype=object)
    out[:] = list(values)
    return out


def decode_bars(payloads: Sequence[bytes]) -> DecodedBars:
    """Decode every payload that is a well-typed canonical bar; list the others as failed."""
    decode = _DECODER.decode
    bars: list[BarPayload] = []
    failed: list[int] = []
    for i, data in enumerate(payloads):
        try:
            bars.append(decode(data))
        except msgspec.DecodeError:  # ValidationError (a wrong type) is a DecodeError too
            failed.append(i)
    bad = np.array(failed, dtype=np.int64)
    rows = np.arange(len(payloads), dtype=np.int64)
    if failed:
        rows = np.delete(rows, bad)
    columns = {name: _column(bars, name) for name in BarPayload.__struct_fields__}
    return DecodedBars(rows=rows, failed=bad, columns=columns)
