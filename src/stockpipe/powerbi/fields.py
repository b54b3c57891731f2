"""PBIR field references (semanticQuery expressions) and formatting literals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_AVG, _SUM = 1, 0  # QueryAggregateFunction: Average, Sum


@dataclass(frozen=True)
class Field:
    kind: str  # "column" | "measure" | "avg" | "sum"
    table: str
    name: str

    def expression(self) -> dict[str, Any]:
        ref = {"Expression": {"SourceRef": {"Entity": self.table}}, "Property": self.name}
        if self.kind == "column":
            return {"Column": ref}
        if self.kind == "measure":
            return {"Measure": ref}
        fn = _AVG if self.kind == "avg" else _SUM
        return {"Aggregation": {"Expression": {"Column": ref}, "Function": fn}}

    @property
    def query_ref(self) -> str:
        base = f"{self.table}.{self.name}"
        if self.kind in ("column", "measure"):
            return base
        return f"{'Avg' if self.kind == 'avg' else 'Sum'}({base})"

    @property
    def native_ref(self) -> str:
        if self.kind == "avg":
            return f"Average of {self.name}"
        if self.kind == "sum":
            return f"Sum of {self.name}"
        return self.name

    def projection(self) -> dict[str, Any]:
        return {
            "field": self.expression(),
            "queryRef": self.query_ref,
            "nativeQueryRef": self.native_ref,
        }


def col(table: str, name: str) -> Field:
    return Field("column", table, name)


def measure(table: str, name: str) -> Field:
    return Field("measure", table, name)


def avg(table: str, name: str) -> Field:
    return Field("avg", table, name)


def lit(value: str) -> dict[str, Any]:
    return {"expr": {"Literal": {"Value": value}}}


def text(value: str) -> dict[str, Any]:
    return lit("'" + value.replace("'", "''") + "'")
