"""Regenerating the project from the contract gives exactly the committed files."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from powerbi_support import POWER_BI, QUERIES

from stockpipe.contract import BARS, Column
from stockpipe.powerbi import diff_project, generate_files, write_project
from stockpipe.powerbi import model as model_module


def test_committed_project_equals_a_fresh_generation() -> None:
    assert diff_project(POWER_BI, QUERIES) == [], (
        "run `stockpipe powerbi generate` and commit power-bi/"
    )


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = generate_files(QUERIES)
    write_project(tmp_path / "a", QUERIES)
    assert generate_files(QUERIES) == first
    assert write_project(tmp_path / "a", QUERIES) == []  # second write changes nothing
    for f in first:
        assert (tmp_path / "a" / f.path).read_bytes() == f.content.encode("utf-8")
        assert "\r\n" not in f.content


def test_check_command_passes_on_the_committed_project(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "powerbi", "generate", "--check", "--out", str(POWER_BI), "--queries", str(QUERIES)
    )
    assert result.code == 0, result.err
    assert "up to date" in result.out


def test_check_command_fails_on_drift_and_generate_repairs_it(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "power-bi"
    shutil.copytree(POWER_BI, copy)
    bars = copy / "StockPipe.SemanticModel/definition/tables/bars.tmdl"
    bars.write_text(bars.read_text().replace("column vwap", "column vwap_renamed"))
    stale = copy / "StockPipe.Report/definition/pages/stale-page/page.json"
    stale.parent.mkdir()
    stale.write_text("{}")

    result = cli("powerbi", "generate", "--check", "--out", str(copy), "--queries", str(QUERIES))
    assert result.code == 1
    assert "out of date" in result.err and "stockpipe powerbi generate" in result.err
    assert len(result.err.strip().splitlines()) == 1

    result = cli("powerbi", "generate", "--out", str(copy), "--queries", str(QUERIES))
    assert result.code == 0, result.err
    assert not stale.exists()
    assert diff_project(copy, QUERIES) == []


def test_a_new_contract_column_reaches_model_and_local_queries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = Column("spread", "double", "Ask minus bid")
    wider = dataclasses.replace(BARS, columns=BARS.columns + (extra,))
    monkeypatch.setattr(model_module, "FACT_TABLES", (wider, model_module.FACT_TABLES[1]))
    monkeypatch.setattr("stockpipe.powerbi.local.FACT_TABLES", (wider, model_module.FACT_TABLES[1]))
    files = {f.path: f.content for f in generate_files(QUERIES)}
    bars_tmdl = files["StockPipe.SemanticModel/definition/tables/bars.tmdl"]
    assert "\tcolumn spread\n\t\tdataType: double" in bars_tmdl
    assert '"spread"' in bars_tmdl  # selected in the Athena M partition
    assert '{"spread", type number}' in files["local/bars.pq"]


def test_missing_measure_query_is_a_clear_error(tmp_path: Path) -> None:
    from stockpipe.errors import ConfigError

    empty = tmp_path / "queries"
    empty.mkdir()
    with pytest.raises(ConfigError, match="measure_last_price.sql"):
        generate_files(empty)


def test_local_queries_read_only_the_files_the_manifests_name() -> None:
    # No M engine runs here, so the query's text is checked: the manifests of the table are
    # listed, their lines reduced to file names per dt, and the data files filtered by them
    # (partitions without a manifest keep every file) before any file is opened.
    files = {f.path: f.content for f in generate_files(QUERIES)}
    bars = files["local/bars.pq"]
    assert 'Folder.Files(LakeFolder & "\\processed-data\\bars\\_manifests")' in bars
    assert "Lines.FromBinary([Content])" in bars
    assert (
        "Live = Table.SelectRows(WithDt, each not List.Contains(ManifestedDts, [dt])\n"
        '        or List.Contains(Counted, [dt] & "/" & [Name])),'
    ) in bars
    assert 'WithData = Table.AddColumn(Live, "Data", each Parquet.Document([Content])),' in bars
    assert "_manifests" in files["local/daily.pq"]
