"""The committed Athena DDL is generated from the contract and matches the writers' layout."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlglot
from sqlglot import exp

from stockpipe.contract import BARS, DAILY, LATEST, QUARANTINE, RAW, TABLES
from stockpipe.lake import manifest
from stockpipe.lake.raw import raw_path
from stockpipe.sql.catalog import QUERIES_ROOT
from stockpipe.sql.ddl import LAKE_ROOT_PLACEHOLDER, render_all
from stockpipe.stream.base import StreamRecord

DDL = QUERIES_ROOT / "ddl"


def test_committed_ddl_equals_the_generated_ddl() -> None:
    generated = render_all()
    assert sorted(p.name for p in DDL.glob("*.sql")) == sorted(generated)
    for name, text in generated.items():
        assert (DDL / name).read_text() == text, f"run `stockpipe athena ddl --write` ({name})"


def _parsed(table_name: str) -> tuple[exp.Create, dict[str, str], str]:
    [path] = DDL.glob(f"*_{table_name}.sql")
    stmt = sqlglot.parse_one(path.read_text(), read="athena")
    assert isinstance(stmt, exp.Create)
    props: dict[str, str] = {}
    location = ""
    for prop in stmt.args["properties"].expressions:
        if isinstance(prop, exp.LocationProperty):
            location = prop.this.name
        elif type(prop) is exp.Property:
            props[prop.this.name] = prop.args["value"].name
    return stmt, props, location


PARTITIONED = [t for t in TABLES.values() if t.partitions]


def test_only_latest_is_unpartitioned() -> None:
    assert [t.name for t in TABLES.values() if not t.partitions] == ["latest"]


def test_latest_ddl_is_one_folder_without_projection() -> None:
    stmt, props, location = _parsed("latest")
    columns = [(c.name, c.args["kind"].sql("athena").lower()) for c in stmt.this.expressions]
    assert [(n, t.replace("varchar", "string")) for n, t in columns] == [
        (c.name, c.athena_type) for c in LATEST.columns
    ]
    assert ("dt", "varchar") in columns  # a column here, not a partition
    assert props == {"parquet.compression": "ZSTD"}
    assert location == f"{LAKE_ROOT_PLACEHOLDER}/processed-data/latest/"
    assert "PARTITIONED BY" not in (DDL / "05_latest.sql").read_text()


@pytest.mark.parametrize("table", PARTITIONED, ids=lambda t: t.name)
def test_ddl_columns_and_projection_follow_the_contract(table) -> None:
    stmt, props, location = _parsed(table.name)
    columns = [(c.name, c.args["kind"].sql("athena").lower()) for c in stmt.this.expressions]
    expected = [(c.name, c.athena_type) for c in table.columns]
    # sqlglot spells Athena's `string` as varchar when it prints the type back.
    assert [(n, t.replace("varchar", "string")) for n, t in columns] == expected
    assert props["projection.enabled"] == "true"
    assert props["projection.dt.type"] == "date"
    assert props["projection.dt.format"] == "yyyy-MM-dd"
    assert props["projection.dt.range"].endswith(",NOW")
    folder = f"{table.prefix}/_manifests" if table in SYMLINK_TABLES else table.prefix
    assert location == f"{LAKE_ROOT_PLACEHOLDER}/{folder}/"


SYMLINK_TABLES = [BARS, DAILY, QUARANTINE]


@pytest.mark.parametrize("table", SYMLINK_TABLES, ids=lambda t: t.name)
def test_processed_tables_read_their_manifests_as_symlink_tables(table) -> None:
    """Athena reads the files the manifests name (Hive's SymlinkTextInputFormat, the
    setup Delta Lake documents for Presto and Athena), never the data folder's listing."""
    [path] = DDL.glob(f"*_{table.name}.sql")
    text = path.read_text()
    assert (
        "ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'\n"
        "STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n"
        f"LOCATION '{{{{lake_root}}}}/{table.prefix}/_manifests/'\n"
    ) in text
    assert "STORED AS PARQUET" not in text
    _, props, _ = _parsed(table.name)
    assert props["storage.location.template"] == (
        f"{LAKE_ROOT_PLACEHOLDER}/{table.prefix}/_manifests/dt=${{dt}}/"
    )


@pytest.mark.parametrize("table", [RAW, LATEST], ids=lambda t: t.name)
def test_raw_and_latest_read_their_folders(table) -> None:
    [path] = DDL.glob(f"*_{table.name}.sql")
    assert "Symlink" not in path.read_text()
    assert _parsed(table.name)[2] == f"{LAKE_ROOT_PLACEHOLDER}/{table.prefix}/"


def _render(template: str, **values: str) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("${" + key + "}", value)
    assert "${" not in out, f"unfilled projection key in {template}"
    return out


@pytest.mark.parametrize("table", SYMLINK_TABLES, ids=lambda t: t.name)
def test_parquet_template_matches_the_manifests(table) -> None:
    """A partition's folder holds its writers' manifests, each directly in it."""
    _, props, _ = _parsed(table.name)
    folder = _render(props["storage.location.template"], dt="2026-01-05")
    for writer in ("w0", "w1"):
        path = manifest.manifest_path(table.prefix, "2026-01-05", writer)
        written = f"{LAKE_ROOT_PLACEHOLDER}/{path}"
        assert written.startswith(folder) and "/" not in written[len(folder) :]


def test_raw_template_matches_the_archiver() -> None:
    _, props, _ = _parsed(RAW.name)
    assert props["projection.hour.type"] == "integer"
    assert props["projection.hour.range"] == "0,23"
    assert props["projection.hour.digits"] == "2"
    record = StreamRecord(
        shard_id="shardId-000000000000",
        sequence_number="42",
        partition_key="AAPL",
        data=b"{}",
        arrival_ts=datetime(2026, 1, 5, 7, 59, tzinfo=UTC),
    )
    written = f"{LAKE_ROOT_PLACEHOLDER}/{raw_path(record)}"
    # digits=2 renders hour 7 as "07", the archiver's %H.
    folder = _render(props["storage.location.template"], dt="2026-01-05", hour="07")
    assert written.startswith(folder) and "/" not in written[len(folder) :]


def test_every_ddl_file_is_idempotent() -> None:
    for path in DDL.glob("*.sql"):
        stmt = sqlglot.parse_one(path.read_text(), read="athena")
        assert stmt.args.get("exists"), f"{path.name} needs IF NOT EXISTS"
