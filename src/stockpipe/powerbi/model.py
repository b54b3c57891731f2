"""The TMDL semantic model (`StockPipe.SemanticModel/`), generated from the data contract.

Tables `bars` and `daily` mirror `stockpipe.contract` column by column (plus the `dt`
partition column as text). Two small dimensions, `symbols` and `sessions`, are built in
M from the same Athena tables, because TMDL relationships are single-column: bars and
daily share (symbol, dt), so each key part gets its own dimension and slicers on
symbols[symbol] and sessions[dt] filter both fact tables consistently.
"""

from __future__ import annotations

import re

from stockpipe.contract import BARS, DAILY, Column, Table
from stockpipe.powerbi.base import (
    DEFAULT_DATABASE,
    DEFAULT_DSN,
    DEFAULT_LAKE_FOLDER,
    MODEL_FOLDER,
    GeneratedFile,
    Measure,
    dump_json,
    schema_url,
    stable_uuid,
)
from stockpipe.powerbi.measures import measures_for

FACT_TABLES: tuple[Table, ...] = (BARS, DAILY)

# Dimension name -> (key column, contract tables it is distinct over).
DIMENSIONS: dict[str, tuple[str, tuple[Table, ...]]] = {
    "symbols": ("symbol", (BARS, DAILY)),
    "sessions": ("dt", (BARS, DAILY)),
}

# (from table, from column) -> (to table, to column); many-to-one, single direction.
RELATIONSHIPS: tuple[tuple[str, str, str, str], ...] = (
    ("bars", "symbol", "symbols", "symbol"),
    ("daily", "symbol", "symbols", "symbol"),
    ("bars", "dt", "sessions", "dt"),
    ("daily", "dt", "sessions", "dt"),
)

PARAMETERS: tuple[tuple[str, str, str], ...] = (
    ("DSN", DEFAULT_DSN, "Name of the Amazon Athena ODBC data source (DSN) on this machine"),
    ("AthenaDatabase", DEFAULT_DATABASE, "Athena/Glue database holding bars and daily"),
    ("LakeFolder", DEFAULT_LAKE_FOLDER, "Local lake root, used only by the local M queries"),
)

_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_M_TYPES = {
    "string": "type text",
    "double": "type number",
    "int64": "Int64.Type",
    "dateTime": "type datetime",
}
_SUMMABLE = {"volume", "bar_count", "pre_volume", "post_volume"}


def tmdl_name(name: str) -> str:
    """Quote a TMDL object name unless it is a plain identifier."""
    if _PLAIN_NAME.match(name):
        return name
    return "'" + name.replace("'", "''") + "'"


def all_columns(table: Table) -> tuple[Column, ...]:
    """Contract columns then partition columns, the column order of the model tables."""
    return table.columns + table.partitions


def dimension_columns(name: str) -> list[Column]:
    key, sources = DIMENSIONS[name]
    return [sources[0].column(key)]


def _indent(text: str, tabs: int) -> list[str]:
    pad = "\t" * tabs
    return [pad + line if line else "" for line in text.splitlines()]


def _m_navigation(table: str) -> list[str]:
    return [
        "Source = AmazonAthena.Databases(DSN, null),",
        'Catalog = Source{[Name = "AwsDataCatalog", Kind = "Database"]}[Data],',
        'Database = Catalog{[Name = AthenaDatabase, Kind = "Schema"]}[Data],',
        f'{table}_table = Database{{[Name = "{table}", Kind = "Table"]}}[Data],',
    ]


def _m_list(names: list[str]) -> str:
    return "{" + ", ".join(f'"{n}"' for n in names) + "}"


def _m_types(columns: list[Column]) -> str:
    pairs = ", ".join(f'{{"{c.name}", {_M_TYPES[c.tmdl_type]}}}' for c in columns)
    return "{" + pairs + "}"


def athena_fact_m(table: Table) -> str:
    """M for a fact table: navigate to the Athena table, keep exactly the contract columns."""
    cols = list(all_columns(table))
    steps = _m_navigation(table.name) + [
        f"Selected = Table.SelectColumns({table.name}_table, {_m_list([c.name for c in cols])}),",
        f"Typed = Table.TransformColumnTypes(Selected, {_m_types(cols)})",
    ]
    return "let\n" + "\n".join("    " + s for s in steps) + "\nin\n    Typed"


def athena_dimension_m(name: str) -> str:
    """M for a dimension: distinct key values over the fact tables (folds to SELECT DISTINCT)."""
    key, sources = DIMENSIONS[name]
    steps = _m_navigation(sources[0].name)[:3]
    parts = []
    for src in sources:
        steps.append(
            f'{src.name}_keys = Table.SelectColumns(Database{{[Name = "{src.name}", Kind = "Table"]}}[Data], {{"{key}"}}),'
        )
        parts.append(f"{src.name}_keys")
    col = sources[0].column(key)
    steps += [
        f"Combined = Table.Distinct(Table.Combine({{{', '.join(parts)}}})),",
        f"Typed = Table.TransformColumnTypes(Combined, {_m_types([col])})",
    ]
    return "let\n" + "\n".join("    " + s for s in steps) + "\nin\n    Typed"


def _column_lines(table: str, col: Column, *, is_key: bool = False) -> list[str]:
    lines = [
        f"\t/// {col.description}",
        f"\tcolumn {tmdl_name(col.name)}",
        f"\t\tdataType: {col.tmdl_type}",
    ]
    if is_key:
        lines.append("\t\tisKey")
    if col.tmdl_type == "dateTime":
        lines.append("\t\tformatString: yyyy-mm-dd hh:nn:ss")
    lines += [
        f"\t\tlineageTag: {stable_uuid('column', table, col.name)}",
        f"\t\tsummarizeBy: {'sum' if col.name in _SUMMABLE and not is_key else 'none'}",
        f"\t\tsourceColumn: {col.name}",
        "",
        "\t\tannotation SummarizationSetBy = Automatic",
        "",
    ]
    return lines


def _measure_lines(m: Measure) -> list[str]:
    return [
        f"\t/// {m.description}",
        f"\tmeasure {tmdl_name(m.name)} =",
        *_indent(m.dax, 3),
        f"\t\tformatString: {m.format_string}",
        f"\t\tlineageTag: {stable_uuid('measure', m.table, m.name)}",
        "",
    ]


def _partition_lines(name: str, m_expression: str) -> list[str]:
    return [
        f"\tpartition {tmdl_name(name)} = m",
        "\t\tmode: import",
        "\t\tsource =",
        *_indent(m_expression, 4),
        "",
    ]


def _table_file(name: str, description: str, body: list[str]) -> GeneratedFile:
    lines = [
        f"/// {description}",
        f"table {tmdl_name(name)}",
        f"\tlineageTag: {stable_uuid('table', name)}",
        "",
        *body,
        "\tannotation PBI_ResultType = Table",
        "",
    ]
    return GeneratedFile(f"{MODEL_FOLDER}/definition/tables/{name}.tmdl", "\n".join(lines))


def fact_table_file(table: Table) -> GeneratedFile:
    body: list[str] = []
    for m in measures_for(table.name):
        body += _measure_lines(m)
    for col in all_columns(table):
        body += _column_lines(table.name, col)
    body += _partition_lines(table.name, athena_fact_m(table))
    return _table_file(table.name, table.description, body)


def dimension_table_file(name: str) -> GeneratedFile:
    key, sources = DIMENSIONS[name]
    body: list[str] = []
    for col in dimension_columns(name):
        body += _column_lines(name, col, is_key=True)
    body += _partition_lines(name, athena_dimension_m(name))
    body += [f"\tannotation StockpipeContractTable = {sources[0].name}", ""]
    desc = f"Distinct {key} values over {' and '.join(s.name for s in sources)} (slicer dimension)"
    return _table_file(name, desc, body)


def table_names() -> list[str]:
    return [t.name for t in FACT_TABLES] + list(DIMENSIONS)


def _expressions_file() -> GeneratedFile:
    lines: list[str] = []
    for name, default, description in PARAMETERS:
        lines += [
            f"/// {description}",
            f'expression {name} = "{default}" meta [IsParameterQuery = true, Type = "Text", IsParameterQueryRequired = true]',
            f"\tlineageTag: {stable_uuid('expression', name)}",
            "",
            "\tannotation PBI_ResultType = Text",
            "",
        ]
    return GeneratedFile(f"{MODEL_FOLDER}/definition/expressions.tmdl", "\n".join(lines))


def _relationships_file() -> GeneratedFile:
    lines: list[str] = []
    for ft, fc, tt, tc in RELATIONSHIPS:
        lines += [
            f"relationship {stable_uuid('relationship', ft, fc, tt, tc)}",
            f"\tfromColumn: {tmdl_name(ft)}.{tmdl_name(fc)}",
            f"\ttoColumn: {tmdl_name(tt)}.{tmdl_name(tc)}",
            "",
        ]
    return GeneratedFile(f"{MODEL_FOLDER}/definition/relationships.tmdl", "\n".join(lines))


def _model_file() -> GeneratedFile:
    order = [p[0] for p in PARAMETERS] + table_names()
    lines = [
        "model Model",
        "\tculture: en-US",
        "\tdefaultPowerBIDataSourceVersion: powerBI_V3",
        "\tsourceQueryCulture: en-US",
        "\tdataAccessOptions",
        "\t\tlegacyRedirects",
        "\t\treturnErrorValuesAsNull",
        "",
        "annotation PBI_QueryOrder = " + "[" + ",".join(f'"{n}"' for n in order) + "]",
        "",
        "annotation __PBI_TimeIntelligenceEnabled = 0",
        "",
        *[f"ref table {tmdl_name(n)}" for n in table_names()],
        "",
    ]
    return GeneratedFile(f"{MODEL_FOLDER}/definition/model.tmdl", "\n".join(lines))


def semantic_model_files() -> list[GeneratedFile]:
    pbism = {
        "$schema": schema_url("item/semanticModel/definitionProperties/1.0.0/schema.json"),
        "version": "4.2",
        "settings": {},
    }
    files = [
        GeneratedFile(f"{MODEL_FOLDER}/definition.pbism", dump_json(pbism)),
        GeneratedFile(
            f"{MODEL_FOLDER}/definition/database.tmdl",
            "database StockPipe\n\tcompatibilityLevel: 1567\n",
        ),
        _model_file(),
        _expressions_file(),
        _relationships_file(),
    ]
    files += [fact_table_file(t) for t in FACT_TABLES]
    files += [dimension_table_file(d) for d in DIMENSIONS]
    return files
