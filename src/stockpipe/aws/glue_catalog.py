"""Glue Data Catalog tables for the CloudFormation template, generated from the contract.

The Athena DDL in src/stockpipe/sql/athena_queries/ddl/ is generated from the same `stockpipe.contract`
with the same partition projection, so the catalog, the DDL and the Parquet files agree.
`render_tables_yaml()` is the block between the GENERATED markers in
src/stockpipe/aws/cloudformation/stockpipe.yaml; `stockpipe deploy --render` rewrites it in place.

`bars`, `daily` and `quarantine` are symlink tables, like their DDL: their location is
`<prefix>/_manifests/`, whose files name the Parquet files that count
(`SymlinkTextInputFormat` with the Parquet SerDe).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from stockpipe.contract import (
    LATEST,
    MANIFESTED_TABLES,
    MANIFESTS_DIR,
    TABLES,
    Table,
    projection_properties,
)
from stockpipe.errors import ConfigError

BEGIN_MARKER = (
    "  # --- BEGIN GENERATED: Glue tables from stockpipe.contract (stockpipe deploy --render) ---"
)
END_MARKER = "  # --- END GENERATED: Glue tables ---"

_PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    },
}
_SYMLINK_PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerdeInfo": _PARQUET["SerdeInfo"],
}
_JSON = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
}


def logical_id(table: Table) -> str:
    """CloudFormation logical id of a table's resource, e.g. GlueTableBars."""
    return "GlueTable" + "".join(part.capitalize() for part in table.name.split("_"))


def location(table: Table) -> str:
    """The folder the table reads, in Fn::Sub syntax: a manifested table's manifests."""
    folder = f"{table.prefix}/{MANIFESTS_DIR}" if table in MANIFESTED_TABLES else table.prefix
    return f"s3://${{DataBucket}}/{folder}/"


def location_template(table: Table) -> str:
    """`storage.location.template` in Fn::Sub syntax (`${!dt}` is a literal `${dt}`)."""
    parts = "/".join(f"{p.name}=${{!{p.name}}}" for p in table.partitions)
    return f"{location(table)}{parts}/"


def _formats(table: Table) -> dict[str, Any]:
    if table in MANIFESTED_TABLES:
        return _SYMLINK_PARQUET
    return _PARQUET if table.file_format == "parquet" else _JSON


def table_parameters(table: Table) -> dict[str, str]:
    """Glue table parameters: classification plus partition projection (location added later)."""
    # The same projection as the Athena DDL (stockpipe.contract): no MSCK REPAIR, no crawler.
    try:
        projection = projection_properties(table)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return {"classification": table.file_format, "EXTERNAL": "TRUE", **projection}


def render_table(table: Table) -> dict[str, Any]:
    """One AWS::Glue::Table resource (intrinsics in long form, so plain YAML can hold it)."""
    params: dict[str, Any] = table_parameters(table)
    params["storage.location.template"] = {"Fn::Sub": location_template(table)}
    formats = _formats(table)
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": {"Ref": "AWS::AccountId"},
            "DatabaseName": {"Ref": "GlueDatabase"},
            "TableInput": {
                "Name": table.name,
                "Description": table.description,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": params,
                "PartitionKeys": [
                    {"Name": p.name, "Type": p.athena_type, "Comment": p.description}
                    for p in table.partitions
                ],
                "StorageDescriptor": {
                    "Columns": [
                        {"Name": c.name, "Type": c.athena_type, "Comment": c.description}
                        for c in table.columns
                    ],
                    "Location": {"Fn::Sub": location(table)},
                    **formats,
                },
            },
        },
    }


#: The tables the template declares. `latest` is left to `stockpipe athena setup` (its DDL,
#: like the views that read it): one more table would take the template past the 51,200
#: bytes CloudFormation accepts inline.
GLUE_TABLES: tuple[Table, ...] = tuple(t for t in TABLES.values() if t is not LATEST)


def render_tables() -> dict[str, dict[str, Any]]:
    """Every contract table in GLUE_TABLES as {logical id: AWS::Glue::Table resource}."""
    return {logical_id(t): render_table(t) for t in GLUE_TABLES}


class _NoAliasDumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML has no stubs: Any base
    # CloudFormation rejects YAML anchors/aliases (cfn-lint W1101).
    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_tables_yaml() -> str:
    """The generated block, indented to sit under the template's `Resources:`."""
    body = yaml.dump(
        render_tables(),
        Dumper=_NoAliasDumper,
        sort_keys=False,
        width=1000,
        default_flow_style=False,
    )
    lines = ["  " + line if line else line for line in body.splitlines()]
    return "\n".join([BEGIN_MARKER, *lines, END_MARKER]) + "\n"


def _split(text: str, path: Path) -> tuple[str, str, str]:
    start = text.find(BEGIN_MARKER)
    end = text.find(END_MARKER)
    if start < 0 or end < start:
        raise ConfigError(
            f"{path} has no GENERATED Glue tables block; restore the BEGIN/END marker "
            "lines under Resources: and run `stockpipe deploy --render`"
        )
    end += len(END_MARKER) + 1
    return text[:start], text[start:end], text[end:]


def committed_block(path: Path) -> str:
    """The generated block as committed in the template file."""
    return _split(path.read_text(), path)[1]


def render_into(path: Path) -> bool:
    """Rewrite the generated block of `path`; True when the file changed."""
    text = path.read_text()
    head, block, tail = _split(text, path)
    fresh = render_tables_yaml()
    if block == fresh:
        return False
    path.write_text(head + fresh + tail)
    return True
