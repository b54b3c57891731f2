"""Issue 19 items 1-3, end to end on real processes: `stockpipe run` as a user runs it.

One run is started, a second run on the same home and a run on the same port are refused
before any stage starts, Ctrl-C (SIGINT to the whole process group, as a terminal sends
it) stops cleanly without a traceback, a restart resumes without re-sending anything, and
a SIGKILLed stage makes the run exit non-zero naming it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from stockpipe.contract import BARS
from stockpipe.lake.local import LocalLake
from stockpipe.lake.raw import iter_raw
from stockpipe.sources.simulator import session_bars
from stockpipe.stream.local import LocalStream

STOCKPIPE = str(Path(sys.executable).with_name("stockpipe"))
SYMBOLS = ("AAPL", "MSFT")
SEED = 3

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(home: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "STOCKPIPE_HOME": str(home), "STOCKPIPE_DASHBOARD_PORT": str(port)}
    # One process worker: this test reads the single `process` checkpoint (a new lake
    # would get min(cores, shards, 4) workers, each with its own checkpoint).
    args = ["run", "--days", "1", "--symbols", ",".join(SYMBOLS), "--seed", str(SEED)]
    args += ["--workers", "1"]
    return subprocess.Popen(
        [STOCKPIPE, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )


def _wait(what: str, check: Callable[[], Any], timeout: float = 240.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _state(home: Path, name: str) -> dict[str, Any]:
    try:
        return json.loads((home / "state" / name).read_text())
    except (OSError, ValueError):
        return {}


def _kept(home: Path) -> int:
    try:
        doc = json.loads((home / "lake/_checkpoints/process/checkpoint.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(doc.get("state", {}).get("kept", 0))


def _live_bars_processed(home: Path, more_than: int) -> bool:
    return _state(home, "ingest.json").get("phase") == "live" and _kept(home) > more_than


def _lake_bars(home: Path) -> list[dict[str, Any]]:
    files = sorted((home / "lake" / BARS.prefix).rglob("*.parquet"))
    table = pq.read_table(files, schema=BARS.arrow_schema()).select(
        ["symbol", "ts", "open", "close", "volume"]
    )
    return table.to_pylist()


def test_second_run_refused_ctrl_c_clean_restart_resumes_crash_exits_non_zero(tmp_path) -> None:
    home, port = tmp_path / "home", _free_port()
    first = _start(home, port)
    try:
        _wait("live bars in the lake", lambda: _live_bars_processed(home, len(SYMBOLS) * 390))

        # 1. A second run on the same home: refused at once, one line naming the pid.
        second = subprocess.run(
            [STOCKPIPE, "run", "--port", str(_free_port())],
            env={**os.environ, "STOCKPIPE_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode != 0
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, second.stderr
        assert f"another stockpipe run (pid {first.pid})" in lines[0]
        assert "dashboard:" not in second.stdout
        assert _state(home, "run.json")["pid"] == first.pid

        # The port is bound before any stage starts: another home, same port, nothing written.
        other = tmp_path / "other"
        busy = subprocess.run(
            [STOCKPIPE, "run", "--port", str(port)],
            env={**os.environ, "STOCKPIPE_HOME": str(other)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert busy.returncode != 0
        assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr
        assert len(busy.stderr.strip().splitlines()) == 1
        assert not (other / "stream").exists() and not (other / "lake").exists()

        # Ctrl-C: the terminal sends SIGINT to the whole foreground process group.
        os.killpg(first.pid, signal.SIGINT)
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.communicate()  # reads and closes the pipes
    assert first.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    last_frame = out[out.rindex("stockpipe ─") :]
    assert "stopped cleanly" in last_frame and "alive" not in last_frame
    kept_before = _kept(home)
    first_run_bars = {(b["symbol"], b["ts"]) for b in _lake_bars(home)}

    # 2. Restart: resumes (no backfill again, live continues after the last bar).
    again = _start(home, port)
    try:
        _wait("new live bars", lambda: _live_bars_processed(home, kept_before + 4 * len(SYMBOLS)))
        process = json.loads((home / "lake/_checkpoints/process/checkpoint.json").read_text())
        assert process["state"]["duplicates"] == 0  # nothing was sent twice
        # 3. A stage killed by SIGKILL: the run stops and exits non-zero naming it.
        stage_pid = _state(home, "run.json")["stages"]["process"]["pid"]
        os.kill(stage_pid, signal.SIGKILL)
        out, err = again.communicate(timeout=120)
    finally:
        if again.poll() is None:
            os.killpg(again.pid, signal.SIGKILL)
            again.communicate()  # reads and closes the pipes
    assert again.returncode != 0
    assert "stage process killed by SIGKILL (signal 9)" in err
    assert "Traceback" not in err

    # The stages are stopped together, so the producer may put a last call after the archiver
    # saved its checkpoint: those records wait in the stream for the next archive, which
    # catches up here (then nothing may be missing, nor archived twice).
    catch_up = subprocess.run(
        [STOCKPIPE, "archive"],
        env={**os.environ, "STOCKPIPE_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert catch_up.returncode == 0, catch_up.stderr

    # The stream and raw-data/ hold each bar once: the restart re-sent nothing.
    stream = LocalStream(home / "stream" / "stream.db")
    in_stream = sum(stream.pending(s.shard_id, None) for s in stream.list_shards())
    stream.close()
    raw = list(iter_raw(LocalLake(home / "lake")))
    assert len({(r.shard_id, r.sequence_number) for r in raw}) == len(raw) == in_stream
    sent = [(json.loads(r.data)["symbol"], json.loads(r.data)["ts"]) for r in raw]
    assert len(sent) == len(set(sent))

    # The lake holds, per symbol, every minute from the open to the last bar exactly once,
    # with the simulator's values for this seed: the restart neither replayed nor skipped.
    bars = _lake_bars(home)
    keys = [(b["symbol"], b["ts"]) for b in bars]
    assert len(keys) == len(set(keys))
    assert first_run_bars < set(keys)
    for sym in SYMBOLS:
        mine = sorted((b for b in bars if b["symbol"] == sym), key=lambda b: b["ts"])
        days = sorted({b["ts"].date() for b in mine})
        expected = []
        for day in days:
            sb = session_bars(SEED, sym, day)
            expected += [sb.bar(i) for i in range(len(sb))]
        expected = [b for b in expected if b.ts <= mine[-1]["ts"]]
        assert [b["ts"] for b in mine] == [b.ts for b in expected]
        assert [(b["open"], b["close"], b["volume"]) for b in mine] == [
            (b.open, b.close, b.volume) for b in expected
        ]
        assert all(
            later - earlier == timedelta(minutes=1)
            for earlier, later in zip(
                [b["ts"] for b in mine if b["ts"].date() == days[-1]][:-1],
                [b["ts"] for b in mine if b["ts"].date() == days[-1]][1:],
                strict=True,
            )
        )


def test_ctrl_c_while_the_stages_are_still_starting_prints_no_traceback(tmp_path) -> None:
    home = tmp_path / "home"
    run = _start(home, _free_port())
    try:
        # The stages exist (run.json is written right after they are spawned) but are
        # still importing: the moment the Ctrl-C printed a multiprocessing traceback.
        _wait("the stages to be spawned", lambda: _state(home, "run.json").get("stages"), 120)
        os.killpg(run.pid, signal.SIGINT)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()  # reads and closes the pipes
    assert run.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "stopped: checkpoints saved" in out


def test_a_lake_that_is_a_file_is_refused_before_anything_starts(tmp_path) -> None:
    home, blocker = tmp_path / "home", tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake should be")
    env = {**os.environ, "STOCKPIPE_HOME": str(home), "STOCKPIPE_LAKE": str(blocker)}
    result = subprocess.run(
        [STOCKPIPE, "run", "--no-dashboard"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: the lake {blocker} is a file, not a folder: set STOCKPIPE_LAKE to a folder "
        "(or s3://bucket/prefix), or move the file away"
    )
    assert not home.exists()


def test_a_stage_that_fails_stops_the_run_with_one_line_per_failure(tmp_path) -> None:
    home = tmp_path / "home"
    # A file where the checkpoints folder should be: every stage fails on its first read.
    (home / "lake").mkdir(parents=True)
    (home / "lake" / "_checkpoints").write_text("not a folder")
    env = {**os.environ, "STOCKPIPE_HOME": str(home)}
    result = subprocess.run(
        [STOCKPIPE, "run", "--no-dashboard", "--days", "1", "--symbols", "AAPL"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    final = lines[-1]
    assert final.startswith("error: stage ") and "exit code 1" in final, result.stderr
    failed_stage = final.removeprefix("error: stage ").split()[0]
    assert failed_stage in ("ingest", "archive", "process")
    # The failing stage said why in one line, and the status keeps the last such line as
    # its last warning.
    assert any(line.startswith(f"error: {failed_stage}: ") for line in lines), result.stderr
    warning = _state(home, "warning.json")
    assert f"error: {warning['stage']}: {warning['message']}" in lines, (warning, lines)
    assert f"state         failed: {failed_stage} exit code 1" in result.stdout
