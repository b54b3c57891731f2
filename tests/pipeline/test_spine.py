"""The spine end to end: ingest -> archive -> process is deterministic and idempotent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from stockpipe.contract import BARS

ARGS = ("ingest", "--source", "simulator", "--days", "2", "--seed", "1", "--start", "2026-11-23")


def _bars(lake: Path):  # type: ignore[no-untyped-def]
    files = sorted((lake / BARS.prefix).rglob("*.parquet"))
    table = pq.read_table(files, schema=BARS.arrow_schema()) if files else None
    return table.sort_by([("symbol", "ascending"), ("ts", "ascending")]) if table else None


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


def _pipeline(cli, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("STOCKPIPE_HOME", str(home))
    for args in (ARGS, ("archive",), ("process",)):
        result = cli(*args)
        assert result.code == 0, result.err


def test_two_fresh_homes_give_identical_bars_and_process_again_is_a_no_op(
    cli, monkeypatch, tmp_path
) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    _pipeline(cli, monkeypatch, first)
    _pipeline(cli, monkeypatch, second)
    a, b = _bars(first / "lake"), _bars(second / "lake")
    assert a is not None and a.num_rows == 8 * 2 * 390
    # Lineage columns name stream positions. A new stream numbers its records from its
    # creation time (as Kinesis does), so the numbers differ by a constant offset: same
    # records, same shards, same order.
    seq = a.schema.get_field_index("ingest_seq")
    assert a.remove_column(seq).equals(b.remove_column(seq))

    def offsets(table):  # type: ignore[no-untyped-def]
        numbers = [int(x) for x in table.column("ingest_seq").to_pylist()]
        return [n - min(numbers) for n in numbers]

    assert offsets(a) == offsets(b)
    assert sorted(set(a.column("symbol").to_pylist())) == sorted(
        ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM"]
    )
    before = _digest(first / "lake" / "processed-data")
    monkeypatch.setenv("STOCKPIPE_HOME", str(first))
    again = cli("process")
    assert again.code == 0 and "processed 0 records" in again.out
    assert _digest(first / "lake" / "processed-data") == before


def test_status_reports_consumers_and_lake(cli, monkeypatch, tmp_path) -> None:
    home = tmp_path / "h"
    _pipeline(cli, monkeypatch, home)
    result = cli("status", "--json")
    assert result.code == 0, result.err
    import json

    doc = json.loads(result.out)
    assert doc["consumers"]["archive"]["pending"] == 0
    assert doc["consumers"]["process"]["pending"] == 0
    state = doc["consumers"]["process"]["state"]
    assert state["read"] == 8 * 2 * 390
    assert state["read"] == state["kept"] + state["duplicates"] + state["quarantined"]
    assert doc["lake"]["rows"]["bars"] == 8 * 2 * 390
    assert doc["lake"]["last_bar"].startswith("2026-11-24T20:59")
