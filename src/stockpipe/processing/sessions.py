"""Which bars a lake's indicators were computed over, recorded in the lake itself.

The indicator state stored in every bar (hidden `_` columns) only continues the series it
was computed on, so a lake must never mix choices: the first batch records the choice,
every later one checks it, and only a full `stockpipe reprocess` (which deletes the
record with the processed zone) may change it. The record also marks a processed zone
written with exchange sessions: bars without one come from an older build.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from stockpipe.contract import BARS, DEFAULT_INDICATOR_SESSIONS, format_sessions, parse_sessions
from stockpipe.errors import ConfigError, LakeError
from stockpipe.lake import manifest
from stockpipe.lake.base import Lake

RECORD = "_state/processing/contract.json"
SETTING = "STOCKPIPE_INDICATOR_SESSIONS"


def recorded_indicator_sessions(lake: Lake) -> tuple[str, ...] | None:
    """The lake's recorded choice, or None if it has none yet."""
    try:
        raw = lake.read_bytes(RECORD)
    except FileNotFoundError:
        return None
    try:
        return parse_sessions(str(json.loads(raw)["indicator_sessions"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise LakeError(
            f"{RECORD} in the lake is corrupt ({exc}): run `stockpipe reprocess` to rebuild "
            "the processed zone"
        ) from None


def settle_indicator_sessions(lake: Lake, wanted: Sequence[str] | None) -> tuple[str, ...]:
    """The choice to process with: the lake's record, which `wanted` must match; or, for a
    new processed zone, `wanted` (default every bar), recorded before any bars file."""
    recorded = recorded_indicator_sessions(lake)
    choice = tuple(wanted) if wanted is not None else None
    if recorded is not None:
        if choice is not None and choice != recorded:
            raise ConfigError(
                f"{SETTING}={format_sessions(choice)} but the lake's indicators were computed "
                f"over {format_sessions(recorded)} (recorded in {RECORD}): run `stockpipe "
                f"reprocess` to recompute them all, or set {SETTING}="
                f"{format_sessions(recorded)}"
            )
        return recorded
    if manifest.has_files(lake, BARS.prefix):
        raise ConfigError(
            f"{BARS.prefix} was written by a build without exchange sessions (no {RECORD}): "
            "run `stockpipe reprocess` to rebuild it from the raw zone"
        )
    choice = choice or DEFAULT_INDICATOR_SESSIONS
    doc = {"indicator_sessions": format_sessions(choice)}
    lake.write_bytes(RECORD, json.dumps(doc).encode())
    return choice
