"""Issue 18, item 7: `stockpipe run --no-process` runs no local processor.

After `stockpipe deploy --start-job` the Glue job processes the stream; a local `process`
stage next to it would be a second writer of processed-data/ (docs/spark.md forbids it).
"""

from __future__ import annotations

import json

import pytest

from stockpipe.lake.local import LocalLake

pytestmark = pytest.mark.integration


def test_run_without_the_process_stage_archives_but_never_processes(cli, home) -> None:
    result = cli(
        "run", "--no-process", "--no-dashboard", "--no-live", "--symbols", "AAPL",
        "--days", "1", "--seed", "2", "--duration", "40",
    )  # fmt: skip
    assert result.code == 0, result.err
    # The stage processes that ran (state/run.json, what `status` reads): ingest and
    # archive only. The panel left on screen says the run stopped (issue 19 item 6).
    run = json.loads((home / "state" / "run.json").read_text())
    assert sorted(run["stages"]) == ["archive", "ingest"]
    assert run["result"] == "stopped cleanly"
    assert "stages alive" not in result.out
    lake = LocalLake(home / "lake")
    assert any(p.endswith(".jsonl") for p in lake.list("raw-data"))  # archive worked
    assert not lake.exists("_checkpoints/process/checkpoint.json")
    assert lake.list("processed-data") == []
