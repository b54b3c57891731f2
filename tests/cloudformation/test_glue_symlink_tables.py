"""The Glue tables of bars, daily and quarantine read the manifests (symlink tables).

The template's generated tables are checked field by field, then created in moto's Glue
(which the CloudFormation deploy skips) to check the catalog keeps exactly those fields.
Only real AWS can show that Athena reads through them: docs/sql.md gives the command.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from stockpipe import contract
from stockpipe.aws.glue_catalog import render_table

SYMLINK = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
MANIFESTED = [contract.BARS, contract.DAILY, contract.QUARANTINE]


def _resolved(node: Any, bucket: str) -> Any:
    """The template's Fn::Sub values as CloudFormation fills them in."""
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"}:
            return node["Fn::Sub"].replace("${DataBucket}", bucket).replace("${!", "${")
        return {k: _resolved(v, bucket) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolved(v, bucket) for v in node]
    return node


@pytest.mark.parametrize("table", MANIFESTED, ids=lambda t: t.name)
def test_template_table_is_a_symlink_table_over_the_manifests(table) -> None:
    got = _resolved(render_table(table)["Properties"]["TableInput"], "lake-bucket")
    storage = got["StorageDescriptor"]
    assert {k: v for k, v in storage.items() if k != "Columns"} == {
        "Location": f"s3://lake-bucket/{table.prefix}/_manifests/",
        "InputFormat": SYMLINK,
        "OutputFormat": TEXT_OUTPUT,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE},
    }
    assert got["Parameters"]["storage.location.template"] == (
        f"s3://lake-bucket/{table.prefix}/_manifests/dt=${{dt}}/"
    )
    assert got["Parameters"]["classification"] == "parquet"


def test_raw_keeps_reading_its_folder() -> None:
    got = _resolved(render_table(contract.RAW)["Properties"]["TableInput"], "lake-bucket")
    assert got["StorageDescriptor"]["Location"] == "s3://lake-bucket/raw-data/"
    assert got["StorageDescriptor"]["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"


@pytest.mark.integration
def test_glue_keeps_the_symlink_fields(moto_aws) -> None:  # type: ignore[no-untyped-def]
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": "stockpipe_symlink"})
    for table in MANIFESTED:
        table_input = _resolved(render_table(table)["Properties"]["TableInput"], "lake-bucket")
        glue.create_table(DatabaseName="stockpipe_symlink", TableInput=table_input)
        stored = glue.get_table(DatabaseName="stockpipe_symlink", Name=table.name)["Table"]
        storage = stored["StorageDescriptor"]
        assert storage["InputFormat"] == SYMLINK
        assert storage["OutputFormat"] == TEXT_OUTPUT
        assert storage["SerdeInfo"] == {"SerializationLibrary": PARQUET_SERDE}
        assert storage["Location"] == f"s3://lake-bucket/{table.prefix}/_manifests/"
        assert [c["Name"] for c in storage["Columns"]] == table.column_names
        assert [p["Name"] for p in stored["PartitionKeys"]] == ["dt"]
        params = stored["Parameters"]
        assert params["projection.dt.type"] == "date"
        assert params["storage.location.template"] == (
            f"s3://lake-bucket/{table.prefix}/_manifests/dt=${{dt}}/"
        )
