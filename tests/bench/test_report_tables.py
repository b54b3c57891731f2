"""The report's targets tables and the README table built from a report, on a hand-made
report: every row of issue #21's table, "not run" where its scenario did not run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import target
from readme_table import BEGIN, END, main, merged_results, render_table, replace_between_markers

MACHINE = {
    "cpu_count": 2,
    "cpu_model": "Test CPU",
    "memory_gib": 4.0,
    "platform": "Linux-x",
    "python": "3.11.7",
    "git_commit": "abc1234",
    "load_average": [1.0, 0.5, 0.3],
}


def report() -> dict:
    return {
        "mode": "full",
        "machine": MACHINE,
        "load_average_after": [2.0, 1.5, 1.4],
        "scenarios": [
            {
                "id": "e2e",
                "title": "End-to-end throughput",
                "status": "ok",
                "targets": [
                    target("throughput", 50000.0, ">=", 100000, "bars/s", "process is slowest"),
                    target("peak RSS (sum of the 3 stage processes)", 900, "<=", 2048.0, "MiB"),
                ],
            },
            {
                "id": "kernel",
                "title": "Indicator kernel vs TA-Lib",
                "status": "skipped",
                "reason": "TA-Lib is not installed",
                "targets": [],
            },
            {
                "id": "incremental",
                "title": "Incremental scaling",
                "status": "ok",
                "targets": [target("1-year time / 1-day time", 0.94, "<=", 1.5, "x")],
            },
        ],
    }


EXPECTED = """\
Figures from [r.json](bench/results/r.json) (full run, commit abc1234, load average 1.0, 0.5, 0.3 before, 2.0, 1.5, 1.4 after), on 2 CPUs (Test CPU), 4.0 GiB RAM, Linux-x, Python 3.11.7.

#### Issue #21

| Issue #21 figure | Before | Target | Measured | Met | Reason if missed |
|---|---|---|---|---|---|
| process stage alone, 780k-bar backlog | 12k bars/s | ≥ 120k bars/s (with `--workers 2`) | not run | **not run** | scenario `backlog` was not part of this run |
| end to end (ingest + archive + process, 780k bars): throughput | 7.5k bars/s | ≥ 100,000 bars/s | 50,000 bars/s | **missed** | process is slowest |
| end to end (ingest + archive + process, 780k bars): peak RSS (sum of the 3 stage processes) |  | ≤ 2,048 MiB | 900 MiB | **met** |  |
| freshness p99, 500 symbols x 1 bar/s, for 5 min, including late-session batches | 16.4 s | ≤ 0.25 s | not run | **not run** | scenario `freshness` was not part of this run |
| a live batch at minute 300 of the session ÷ a batch at minute 1 | about 2.5x | ≤ 1.2x | not run | **not run** | scenario `livebatch` was not part of this run |
| Spark local on 780k bars | 7.8k bars/s | ≥ 30k bars/s (and report local ÷ Spark) | not run | **not run** | scenario `engines` was not part of this run |
| kernel ÷ TA-Lib at 10M values, same memory state | 40.8x as reported | ≤ 1.5x, cold and warm both reported | not run | **not run** | skipped: TA-Lib is not installed |
| every named dashboard query, p95 on 10M bars | 3 over 150 ms | all ≤ 100 ms | not run | **not run** | scenario `queries` was not part of this run |
| files per partition after compaction | 1 | 1; between compactions ≤ 1 per batch per table | not run | **not run** | scenario `files` was not part of this run |
| bar in the stream → drawn in the dashboard, p99 (headless Chromium, 50 symbols live) | about 5 s (polling) | ≤ 1 s | not run | **not run** | scenario `dashboard` was not part of this run |

#### Issues #12 and #20

| # | Scenario | Target | Figure | Met | Reason if missed |
|---|---|---|---|---|---|
| 7 | Incremental scaling: 1-year time / 1-day time | ≤ 1.5 x | 0.94 x | **met** |  |
"""


def test_readme_table_of_a_small_report() -> None:
    assert render_table([(report(), "bench/results/r.json")]) == EXPECTED


def test_a_later_report_replaces_a_scenario_and_keeps_the_others() -> None:
    later = {
        "scenarios": [
            {"id": "incremental", "title": "Incremental scaling", "status": "ok", "targets": []},
            {"id": "stages", "title": "Stage throughput", "status": "ok", "targets": []},
        ]
    }
    merged = merged_results([report(), later])
    # In the scenarios' numbering: e2e 1, stages 2, kernel 4, incremental 7.
    assert [(r["id"], r["targets"]) for r in merged if r["id"] != "e2e"] == [
        ("stages", []),
        ("kernel", []),
        ("incremental", []),
    ]
    assert merged[0]["id"] == "e2e"


def test_readme_block_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report()))
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n## Benchmarks\n\nintro\n\n{BEGIN}\nold table\n{END}\n\nafter\n")
    assert main(["--readme", str(readme), str(path)]) == 0
    table = EXPECTED.replace("bench/results/r.json", path.as_posix())
    assert readme.read_text() == (
        f"# Title\n\n## Benchmarks\n\nintro\n\n{BEGIN}\n{table}{END}\n\nafter\n"
    )


def test_readme_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="bench-table"):
        replace_between_markers("# no markers\n", "| table |\n")


def test_a_named_figure_missing_from_an_older_report_keeps_its_row() -> None:
    from report import issue21_table

    engines = {
        "id": "engines",
        "title": "Engines: local vs Spark reprocess",
        "status": "ok",
        "targets": [
            target(
                "local faster than Spark at 1x (spark time / local time)",
                1.73,
                ">=",
                10.0,
                "x",
                "local is only 1.7x faster at 1x",
            )
        ],
    }
    rows = [line for line in issue21_table([engines]) if line.startswith("| Spark")]
    assert rows == [
        "| Spark local on 780k bars: local faster than Spark at 1x (spark time / local time) "
        "| 7.8k bars/s | ≥ 10 x | 1.73 x | **missed** | local is only 1.7x faster at 1x |",
        "| Spark local on 780k bars: Spark local throughput |  | ≥ 30k bars/s (and report "
        "local ÷ Spark) | not run | **not run** | the report has no such figure |",
    ]
