"""The SQL contract: a `SqlEngine` runs Athena-dialect SQL with `?` parameters.

Both engines take the same SQL text (Athena engine v3 / Trino) and positional
parameters, and return a `QueryResult` of Python values: str, int, float, bool,
`date`, UTC-aware `datetime`, `Decimal` or None.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from stockpipe.errors import QueryError

# Athena bills $5 per TB scanned, rounded up to the MB, with a 10 MB minimum per query.
USD_PER_TB = 5.0
_MB = 1024**2
_TB = 1024**4
MIN_BILLED_BYTES = 10 * _MB

PARAM_TYPES = ("varchar", "timestamp", "date", "bigint", "double")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    #: Used when the caller leaves the parameter out; None means it is required.
    default: str | None = None


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    scanned_bytes: int | None = None
    cost_usd: float | None = None
    engine: str = field(default="duckdb", compare=False)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)


class SqlEngine(ABC):
    name: str

    @abstractmethod
    def execute(
        self, sql: str, params: Sequence[Any] | None = None, *, query: str | None = None
    ) -> QueryResult:
        """Run one Athena-dialect statement with positional `?` parameters.

        `query` names the named query `sql` comes from; a QueryError carries it.
        """


def estimate_cost_usd(scanned_bytes: int) -> float:
    """Athena's charge for one query that scanned `scanned_bytes`."""
    billed_mb = max(math.ceil(scanned_bytes / _MB), MIN_BILLED_BYTES // _MB)
    return billed_mb * _MB / _TB * USD_PER_TB


def parse_timestamp(text: str) -> datetime:
    """'2026-01-05', '2026-01-05 14:30', '2026-01-05T14:30:00Z' -> UTC-aware datetime.

    A value without an offset is UTC: every timestamp in the lake is UTC.
    """
    raw = text.strip()
    value = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a timestamp; use ISO 8601 such as 2026-01-05T14:30:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def validate_param(query: str, param: Param, raw: str) -> object:
    """Convert a caller's string to the declared type, or say exactly what is wrong."""
    try:
        if param.type == "varchar":
            return str(raw)
        if param.type == "timestamp":
            return parse_timestamp(raw)
        if param.type == "date":
            if not _DATE_RE.match(raw.strip()):
                raise ValueError(f"{raw!r} is not a date; use YYYY-MM-DD")
            return date.fromisoformat(raw.strip())
        if param.type == "bigint":
            return int(raw)
        if param.type == "double":
            return float(raw)
    except ValueError as exc:
        raise QueryError(
            f"parameter {param.name!r} of query {query!r}: {exc}", query=query
        ) from None
    raise QueryError(f"parameter {param.name!r} has unknown type {param.type!r}", query=query)


def athena_literal(value: Any) -> str:
    """One ExecutionParameters entry: Athena substitutes it as a typed SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise QueryError(f"parameter value {value!r} is not a finite number")
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise QueryError(f"timestamp parameter {value!r} has no timezone; pass UTC")
        utc = value.astimezone(UTC)
        return f"TIMESTAMP '{utc.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        # Quotes are doubled, so the value stays one string literal whatever it contains.
        return "'" + value.replace("'", "''") + "'"
    raise QueryError(
        f"parameter value {value!r} of type {type(value).__name__} is not supported; "
        "pass str, int, float, bool, date or datetime"
    )
