"""Structure of the generated model and report: columns match the data contract, measures
and visuals only reference fields that exist. The parser here is deliberately independent
of the generator: it reads the committed TMDL text."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from powerbi_support import POWER_BI

from stockpipe.contract import TABLES

MODEL = POWER_BI / "StockPipe.SemanticModel" / "definition"
REQUIRED_MEASURES = {
    "Last Price",
    "Change %",
    "Session VWAP",
    "Total Volume",
    "Avg Daily Range %",
    "Volatility",
    "Golden Crosses",
}


@dataclass
class TmdlTable:
    name: str
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    measures: dict[str, dict[str, str]] = field(default_factory=dict)
    partitions: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def _unquote(name: str) -> str:
    name = name.strip()
    if name.startswith("'") and name.endswith("'"):
        return name[1:-1].replace("''", "'")
    return name


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip("\t"))


def parse_table(path: Path) -> TmdlTable:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = next(line for line in lines if line.startswith("table "))
    table = TmdlTable(_unquote(header[len("table ") :]))
    i = 0
    while i < len(lines):
        line = lines[i]
        if _depth(line) == 1 and not line.strip().startswith("///"):
            text = line.strip()
            kind, _, rest = text.partition(" ")
            body: list[str] = []
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or _depth(lines[j]) >= 2):
                body.append(lines[j])
                j += 1
            if kind == "column":
                props = {}
                for b in body:
                    if _depth(b) == 2 and ":" in b:
                        k, _, v = b.strip().partition(":")
                        props[k.strip()] = v.strip()
                    elif _depth(b) == 2 and b.strip():
                        props[b.strip()] = "true"
                table.columns[_unquote(rest)] = props
            elif kind == "measure":
                name, _, first = rest.partition("=")
                expr = [first.strip()] if first.strip() else []
                props = {}
                for b in body:
                    if _depth(b) >= 3:
                        expr.append(b.strip())
                    elif _depth(b) == 2 and ":" in b:
                        k, _, v = b.strip().partition(":")
                        props[k.strip()] = v.strip()
                props["expression"] = "\n".join(expr)
                table.measures[_unquote(name)] = props
            elif kind == "partition":
                name, _, ptype = rest.partition("=")
                assert ptype.strip() == "m", f"{path}: partition {name} is not an M partition"
                table.partitions[_unquote(name)] = "\n".join(b.strip() for b in body)
            elif kind == "annotation":
                k, _, v = rest.partition("=")
                table.annotations[k.strip()] = v.strip()
            i = j
        else:
            i += 1
    return table


@pytest.fixture(scope="module")
def model() -> dict[str, TmdlTable]:
    tables = [parse_table(p) for p in sorted((MODEL / "tables").glob("*.tmdl"))]
    return {t.name: t for t in tables}


def _contract_types(table_name: str) -> dict[str, str]:
    t = TABLES[table_name]
    return {c.name: c.tmdl_type for c in t.columns + t.partitions}


def test_model_has_fact_and_dimension_tables(model: dict[str, TmdlTable]) -> None:
    assert {"bars", "daily"} <= set(model)
    refs = re.findall(r"^ref table (\S+)$", (MODEL / "model.tmdl").read_text(), re.M)
    assert sorted(_unquote(r) for r in refs) == sorted(model)


@pytest.mark.parametrize("name", ["bars", "daily"])
def test_fact_table_columns_are_exactly_the_contract(
    model: dict[str, TmdlTable], name: str
) -> None:
    got = {col: props["dataType"] for col, props in model[name].columns.items()}
    assert got == _contract_types(name)
    for col, props in model[name].columns.items():
        assert props["sourceColumn"] == col


def test_every_column_of_every_table_exists_in_the_contract(model: dict[str, TmdlTable]) -> None:
    for table in model.values():
        source = (
            table.name if table.name in TABLES else table.annotations.get("StockpipeContractTable")
        )
        assert source in TABLES, f"table {table.name} names no contract table"
        contract = _contract_types(source)
        for col, props in table.columns.items():
            assert col in contract, (
                f"{table.name}[{col}] is not a column of contract table {source}"
            )
            assert props["dataType"] == contract[col], f"{table.name}[{col}] type"


def test_every_table_loads_through_athena_with_the_dsn_parameter(
    model: dict[str, TmdlTable],
) -> None:
    expressions = (MODEL / "expressions.tmdl").read_text()
    assert re.search(r'^expression DSN = "[^"]+" meta \[IsParameterQuery = true', expressions, re.M)
    for table in model.values():
        assert len(table.partitions) == 1, table.name
        source = next(iter(table.partitions.values()))
        assert "AmazonAthena.Databases(DSN, null)" in source, table.name
        assert "mode: import" in source or "mode: directQuery" in source


def test_relationships_join_existing_columns_of_the_same_type(model: dict[str, TmdlTable]) -> None:
    text = (MODEL / "relationships.tmdl").read_text()
    pairs = re.findall(r"fromColumn: (\S+)\.(\S+)\n\ttoColumn: (\S+)\.(\S+)", text)
    assert len(pairs) >= 2
    for ft, fc, tt, tc in pairs:
        ft, fc, tt, tc = map(_unquote, (ft, fc, tt, tc))
        assert model[ft].columns[fc]["dataType"] == model[tt].columns[tc]["dataType"]
        assert model[tt].columns[tc].get("isKey") == "true", f"{tt}[{tc}] should be the one side"
    assert {(ft, tt) for ft, _, tt, _ in pairs} >= {("bars", "symbols"), ("daily", "symbols")}


def _all_measures(model: dict[str, TmdlTable]) -> dict[str, tuple[str, dict[str, str]]]:
    return {m: (t.name, props) for t in model.values() for m, props in t.measures.items()}


def test_required_measures_exist_with_format_strings(model: dict[str, TmdlTable]) -> None:
    measures = _all_measures(model)
    assert set(measures) == REQUIRED_MEASURES
    for name, (_, props) in measures.items():
        assert props.get("formatString"), f"measure {name} has no format string"
        assert props["expression"].strip(), name


_QUALIFIED = re.compile(r"('(?:[^']|'')+'|[A-Za-z_][A-Za-z0-9_]*)\[([^\]]+)\]")
_BARE = re.compile(r"(?<![A-Za-z0-9_'\]])\[([^\]]+)\]")


def test_measures_reference_only_existing_columns(model: dict[str, TmdlTable]) -> None:
    measures = _all_measures(model)
    for name, (_, props) in measures.items():
        expr = props["expression"]
        refs = _QUALIFIED.findall(expr)
        assert refs, f"measure {name} references no column"
        for table, column in refs:
            table = _unquote(table)
            assert table in model, f"measure {name}: unknown table {table}"
            assert column in model[table].columns, (
                f"measure {name}: {table}[{column}] does not exist"
            )
        # Bare [x] is a measure, or a column the expression itself defines ("@x").
        defined = set(re.findall(r'"(@[A-Za-z0-9_]+)"', expr))
        for ref in _BARE.findall(_QUALIFIED.sub("", expr)):
            assert ref in measures or ref in defined, f"measure {name}: [{ref}] is not defined"


# --- report ------------------------------------------------------------------------------


def _field_refs(node: Any) -> list[tuple[str, str, str]]:
    """(kind, entity, property) of every Column/Measure reference in a visual."""
    found = []
    if isinstance(node, dict):
        for kind in ("Column", "Measure"):
            ref = node.get(kind)
            if isinstance(ref, dict) and "Property" in ref:
                found.append((kind, ref["Expression"]["SourceRef"]["Entity"], ref["Property"]))
        for value in node.values():
            found += _field_refs(value)
    elif isinstance(node, list):
        for value in node:
            found += _field_refs(value)
    return found


def _pages() -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    root = POWER_BI / "StockPipe.Report" / "definition" / "pages"
    order = json.loads((root / "pages.json").read_text())["pageOrder"]
    out = []
    for name in order:
        page = json.loads((root / name / "page.json").read_text())
        visuals = [
            json.loads(p.read_text())
            for p in sorted((root / name / "visuals").glob("*/visual.json"))
        ]
        out.append((page, visuals))
    return out


def test_page_order_lists_every_page_folder() -> None:
    root = POWER_BI / "StockPipe.Report" / "definition" / "pages"
    order = json.loads((root / "pages.json").read_text())["pageOrder"]
    assert sorted(order) == sorted(p.name for p in root.iterdir() if p.is_dir())


def test_every_visual_references_existing_fields(model: dict[str, TmdlTable]) -> None:
    measures = _all_measures(model)
    count = 0
    for page, visuals in _pages():
        for visual in visuals:
            refs = _field_refs(visual["visual"])
            assert refs, f"visual {visual['name']} on {page['displayName']} shows no data"
            for kind, entity, prop in refs:
                count += 1
                if kind == "Column":
                    assert prop in model[entity].columns, (
                        f"{page['displayName']}: {entity}[{prop}] missing"
                    )
                else:
                    assert measures.get(prop, ("",))[0] == entity, (
                        f"{page['displayName']}: measure {entity}[{prop}] missing"
                    )
    assert count > 40


def test_pages_mirror_the_dashboard_sections() -> None:
    pages = _pages()
    assert [p["displayName"] for p, _ in pages] == [
        "Market overview",
        "Compare symbols",
        "Technical indicators",
    ]
    kinds = {v["visual"]["visualType"] for _, vs in pages for v in vs}
    assert {
        "slicer",
        "lineChart",
        "clusteredColumnChart",
        "pivotTable",
        "card",
        "lineClusteredColumnComboChart",
    } <= kinds
    every = [v for _, vs in pages for v in vs]
    fields = {(e, p) for v in every for _, e, p in _field_refs(v["visual"]["query"])}
    # Moving averages on the price chart, RSI and MACD on the technicals page.
    assert {
        ("bars", "sma_20"),
        ("bars", "sma_50"),
        ("bars", "rsi_14"),
        ("bars", "macd"),
        ("bars", "macd_signal"),
        ("bars", "macd_hist"),
    } <= fields
    for page, visuals in pages:
        assert any(v["visual"]["visualType"] == "slicer" for v in visuals), page["displayName"]
    heatmap = next(v for v in every if v["visual"]["visualType"] == "pivotTable")
    assert "FillRule" in json.dumps(heatmap["visual"]["objects"])
