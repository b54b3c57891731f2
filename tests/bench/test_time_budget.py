"""A scenario over its time budget is stopped with every process it started, and reported
"timeout"; it does not hold up the run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import harness
import pytest

# Spawns a scenario process and a grandchild: an integration test (about 3 s).
pytestmark = pytest.mark.integration

SLOW_SCENARIO = """
import subprocess
import time
from pathlib import Path

ID = "slow"
TITLE = "A scenario that never ends"
SIZES = {}


def run(pid_file):
    child = subprocess.Popen(["sleep", "120"])
    Path(pid_file).write_text(str(child.pid))
    time.sleep(120)
    return {}
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of the killed scenario is reaped by init; until then it is a zombie.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def test_a_scenario_over_budget_is_killed_with_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "slow_scenario.py").write_text(SLOW_SCENARIO)
    monkeypatch.syspath_prepend(str(tmp_path))
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    result = harness.run_scenario("slow_scenario", {"pid_file": str(pid_file)}, timeout_s=3.0)
    assert time.monotonic() - started < 30
    assert result["status"] == "timeout"
    assert result["reason"] == "stopped after its time budget of 3 s"
    assert result["targets"] == []
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(grandchild)
