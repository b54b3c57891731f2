"""Issue 17, item 12: ad-hoc SQL reads the lake's tables and nothing else.

DuckDB runs with `enable_external_access = false` once the lake root is the only allowed
directory, and only SELECT/EXPLAIN statements run: `COPY ... TO`, file functions on other
paths, ATTACH, SET and extension loading are refused, through the engine and the CLI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stockpipe.errors import QueryError
from stockpipe.sql.duckdb import DuckDBEngine

OUTSIDE = "outside.csv"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / OUTSIDE
    path.write_text("name,token\nadmin,hunter2\n")
    return path


def test_lake_tables_still_read(fixture_lake) -> None:  # type: ignore[no-untyped-def]
    engine = DuckDBEngine(fixture_lake)
    count = engine.execute("SELECT count(*) FROM bars").rows[0][0]
    assert count > 0
    # Reading the same Parquet file by path, inside the lake, is allowed.
    first = sorted(Path(fixture_lake.root, "processed-data", "bars").rglob("*.parquet"))[0]
    by_path = engine.execute(f"SELECT count(*) FROM read_parquet('{first}')").rows[0][0]
    assert 0 < by_path <= count


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("SELECT * FROM read_csv_auto('{secret}')", "file system operations are disabled"),
        ("SELECT * FROM read_text('{secret}')", "file system operations are disabled"),
        ("SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"),
        ("SELECT * FROM read_parquet('{secret}')", "file system operations are disabled"),
        ("COPY (SELECT * FROM bars) TO '{out}'", "COPY statements are refused"),
        ("COPY (SELECT * FROM bars) TO '{lake}/bars.csv'", "COPY statements are refused"),
        ("SET enable_external_access = true", "SET statements are refused"),
        ("SELECT 1; COPY (SELECT 1) TO '{out}'", "expected one SQL statement"),
    ],
    ids=[
        "read_csv_auto-outside",
        "read_text-outside",
        "read_csv-etc-passwd",
        "read_parquet-outside",
        "copy-to-outside",
        "copy-into-the-lake",
        "set-external-access",
        "copy-after-select",
    ],
)
def test_file_access_and_writes_are_refused(  # type: ignore[no-untyped-def]
    fixture_lake, secret: Path, tmp_path: Path, template: str, says: str
) -> None:
    out = tmp_path / "stolen.csv"
    sql = template.format(secret=secret, out=out, lake=fixture_lake.root)
    engine = DuckDBEngine(fixture_lake)
    with pytest.raises(QueryError, match=says):
        engine.execute(sql)
    assert not out.exists()
    assert not Path(fixture_lake.root, "bars.csv").exists()
    # The engine still answers afterwards: a refusal changes nothing.
    assert engine.execute("SELECT count(*) FROM bars").rows[0][0] > 0


def test_cli_query_refuses_copy_and_file_functions(
    cli, fixture_lake, secret, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STOCKPIPE_LAKE", fixture_lake.root)
    out = tmp_path / "stolen.csv"
    for sql in (f"SELECT * FROM read_csv_auto('{secret}')", f"COPY (SELECT 1) TO '{out}'"):
        result = cli("query", sql)
        assert result.code != 0
        assert "hunter2" not in result.out + result.err
        lines = [ln for ln in result.err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:")
    assert not out.exists()
