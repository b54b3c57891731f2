"""`stockpipe process --workers N` as a user runs it (issue 21 item 5): spawned worker
processes give the same tables as one process, survive a SIGKILLed worker, and a lake
keeps its number of workers.

Every lake here reads the one stream of the home (checkpoints live in the lake), so the
stream positions stored in the rows are the same in every lake.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from stockpipe.contract import BARS, DAILY, LATEST, QUARANTINE
from stockpipe.lake.local import LocalLake
from stockpipe.testing.lake_content import lake_content

pytestmark = pytest.mark.integration

STOCKPIPE = str(Path(sys.executable).with_name("stockpipe"))
TABLES = (BARS.prefix, DAILY.prefix, QUARANTINE.prefix)
SYMBOLS = "AAPL,MSFT,GOOG,AMZN,TSLA,NVDA"


def _env(home: Path, lake: str) -> dict[str, str]:
    return {**os.environ, "STOCKPIPE_HOME": str(home), "STOCKPIPE_LAKE": str(home / lake)}


def _cli(home: Path, lake: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STOCKPIPE, *args], env=_env(home, lake), capture_output=True, text=True, timeout=300
    )


def _latest(lake: LocalLake) -> pa.Table:
    table = pa.concat_tables([lake.read_parquet(p) for p in sorted(lake.list(LATEST.prefix))])
    return table.sort_by([(k, "ascending") for k in ("symbol", "interval", "dt")])


def _summary(out: str) -> str:
    return " ".join(out.split())  # rich wraps the line at the terminal width


def _kill_worker_once_it_writes(proc: subprocess.Popen[str], lake: Path) -> None:
    """SIGKILL worker 1 as soon as its first bars file exists (its batch not committed)."""
    lock, bars = lake / "_checkpoints/process-w1/lock", lake / BARS.prefix
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(bars.glob("dt=*/w1-*.parquet")):
            pid = int(json.loads(lock.read_text())["pid"])
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.005)
    raise AssertionError("worker 1 wrote no bars file")


def test_two_workers_equal_one_survive_a_kill_and_keep_their_number(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ingest = _cli(home, "one", "ingest", "--symbols", SYMBOLS, "--days", "1", "--seed", "3",
                  "--start", "2026-03-02", "--fault-rate", "0.05")  # fmt: skip
    assert ingest.returncode == 0, ingest.stderr

    one = _cli(home, "one", "process", "--workers", "1")
    two = _cli(home, "two", "process", "--workers", "2")
    assert one.returncode == 0 and two.returncode == 0, (one.stderr, two.stderr)
    # The same counts: this run's and the totals (summed over the workers' checkpoints).
    assert _summary(two.stdout) == _summary(one.stdout)
    # What the simulator says it sent: every bar kept, each injected duplicate dropped,
    # each malformed record quarantined.
    sent = re.search(
        r"ingested (\d+) records \((\d+) bars\).* (\d+) duplicates, \d+ out-of-order, "
        r"(\d+) malformed",
        _summary(ingest.stdout),
    )
    assert sent is not None, ingest.stdout
    records, bars, duplicates, malformed = sent.groups()
    assert (
        f"read {records} = kept {bars} + duplicates {duplicates} + quarantined {malformed}"
        in _summary(one.stdout)
    )
    lakes = {name: LocalLake(home / name) for name in ("one", "two", "killed", "rebuilt")}
    expected = lake_content(lakes["one"], TABLES)
    assert lake_content(lakes["two"], TABLES) == expected
    assert _latest(lakes["two"]).equals(_latest(lakes["one"]))
    assert lakes["two"].exists("_checkpoints/process-w1/checkpoint.json")

    # A worker SIGKILLed mid-run: the command stops the other and says which one died.
    proc = subprocess.Popen(
        [STOCKPIPE, "process", "--workers", "2", "--follow"],
        env=_env(home, "killed"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _kill_worker_once_it_writes(proc, home / "killed")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert err.strip().splitlines() == [
        "error: process worker 1/2 stopped: killed by SIGKILL (signal 9)"
    ]
    again = _cli(home, "killed", "process", "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert lake_content(lakes["killed"], TABLES) == expected
    assert _latest(lakes["killed"]).equals(_latest(lakes["one"]))

    # Without --workers, `process` continues with the lake's number (after a `make run`
    # that chose 2, a plain `stockpipe process` must not be refused): nothing new to do.
    plain = _cli(home, "two", "process")
    assert plain.returncode == 0, plain.stderr
    assert "read 0 = kept 0 + duplicates 0 + quarantined 0" in _summary(plain.stdout)
    assert lake_content(lakes["two"], TABLES) == expected

    # Another number is refused: one readable line naming both numbers and the fixes.
    refused = _cli(home, "two", "process", "--workers", "1")
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        "error: --workers 1 but the lake's processed zone was written by 2 workers (recorded "
        "in _state/processing/workers.json): run with --workers 2, or rebuild it with "
        "`stockpipe reprocess --workers 1`"
    ]

    # `reprocess --workers 2` then `process --workers 2`: the same tables again.
    assert _cli(home, "rebuilt", "archive").returncode == 0
    rebuilt = _cli(home, "rebuilt", "reprocess", "--workers", "2")
    assert rebuilt.returncode == 0, rebuilt.stderr
    after = _cli(home, "rebuilt", "process", "--workers", "2")
    assert after.returncode == 0, after.stderr
    assert lake_content(lakes["rebuilt"], TABLES) == expected
    assert _latest(lakes["rebuilt"]).equals(_latest(lakes["one"]))
    assert json.loads(lakes["rebuilt"].read_bytes("_state/processing/workers.json")) == {
        "workers": 2
    }
