"""`bench/run.py --quick` end to end: the report exists, names every scenario, the machine,
and a met/missed verdict with its figure for every target. No timing assertions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
# `bench/run.py --quick` in a subprocess runs the whole pipeline: an integration test.
pytestmark = pytest.mark.integration

IDS = [
    "e2e",
    "stages",
    "engines",
    "kernel",
    "freshness",
    "queries",
    "incremental",
    "websocket",
    "dashboard",
    "backlog",
    "livebatch",
    "files",
]
TARGETED = {
    "e2e",
    "engines",
    "kernel",
    "freshness",
    "queries",
    "incremental",
    "websocket",
    "dashboard",
    "backlog",
    "livebatch",
    "files",
}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("results")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPIPE_")}
    env["STOCKPIPE_BENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jsons = sorted(out.glob("*-quick.json"))
    mds = sorted(out.glob("*-quick.md"))
    assert len(jsons) == 1 and len(mds) == 1, sorted(p.name for p in out.iterdir())
    assert not list(out.glob("*.tmp"))
    return json.loads(jsons[0].read_text()), mds[0].read_text()


def test_report_names_the_machine(quick_report: tuple[dict, str]) -> None:
    doc, md = quick_report
    machine = doc["machine"]
    assert machine["cpu_count"] == os.cpu_count()
    assert machine["cpu_model"]
    assert machine["memory_bytes"] > 0
    assert doc["mode"] == "quick"
    assert f"{machine['cpu_count']} CPUs ({machine['cpu_model']})" in md
    assert f"{machine['memory_gib']} GiB RAM" in md


def test_every_scenario_runs_or_says_why_not(quick_report: tuple[dict, str]) -> None:
    doc, md = quick_report
    assert [s["id"] for s in doc["scenarios"]] == IDS
    for scenario in doc["scenarios"]:
        assert scenario["status"] in ("ok", "skipped"), scenario
        if scenario["status"] == "skipped":
            assert scenario["reason"]
        else:
            assert scenario["sizes"]
            assert scenario["rows"], scenario["id"]
            assert scenario["process_peak_rss_bytes"] > 0
        assert scenario["title"] in md


def test_every_target_is_met_or_missed_with_figure_and_reason(
    quick_report: tuple[dict, str],
) -> None:
    doc, md = quick_report
    for scenario in doc["scenarios"]:
        if scenario["status"] != "ok":
            continue
        if scenario["id"] in TARGETED:
            assert scenario["targets"], scenario["id"]
        for t in scenario["targets"]:
            assert isinstance(t["met"], bool)
            assert t["op"] in (">=", "<=")
            assert t["unit"]
            if t["met"]:
                assert t["value"] is not None
            else:
                assert t["reason"], t
    assert "## Targets" in md
    assert "**met**" in md or "**missed**" in md


def test_e2e_reports_rate_and_peak_rss(quick_report: tuple[dict, str]) -> None:
    doc, _ = quick_report
    e2e = next(s for s in doc["scenarios"] if s["id"] == "e2e")
    assert e2e["metrics"]["bars"] == 2 * 1 * 390
    assert e2e["metrics"]["bars_per_second"] > 0
    assert e2e["metrics"]["peak_rss_sum_bytes"] > 0
    assert {t["name"] for t in e2e["targets"]} == {
        "throughput",
        "peak RSS (sum of the 3 stage processes)",
    }
