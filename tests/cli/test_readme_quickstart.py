"""Issue 19 acceptance: the README's commands work exactly as written.

Every fenced shell block of README.md is extracted and classified by its section. The
local ones are run verbatim, in the order a new user meets them, from the repository
root with `source .venv/bin/activate` (as the README says every example assumes), against
a temporary STOCKPIPE_HOME and two symbols (STOCKPIPE_SYMBOLS, which the README
documents). `make run` is started, used from "another terminal" while it runs, and
stopped with Ctrl-C (SIGINT to its process group, as a terminal sends it).

Not run, each for the reason given in SKIPPED_SECTIONS / SKIPPED_COMMANDS: the blocks that
need an AWS account or LocalStack, and `make test` (the suite this test belongs to).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"

# Sections whose blocks are run, in README order.
RUN_SECTIONS = ("stockpipe", "Calling the CLI", "The local pipeline", "SQL")
SKIPPED_SECTIONS = {
    "Running on AWS / LocalStack": "needs LocalStack or an AWS account (tests/aws covers it on moto)",
    "Infrastructure: CloudFormation": "needs an AWS account (tests/cloudformation covers it on moto)",
}
SKIPPED_COMMANDS = {
    "make test": "the full suite, which runs this test",
    "make unit": "the unit tests, which `make test` runs itself (nesting them doubles the run)",
}

pytestmark = pytest.mark.integration


def readme_blocks() -> list[tuple[str, list[str]]]:
    """(section heading, command lines) of every fenced block without a language."""
    out: list[tuple[str, list[str]]] = []
    section = ""
    lines = README.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        if line.startswith("```"):
            language = line[3:].strip()
            body = []
            i += 1
            while lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            if not language:  # shell blocks have none; mermaid and the like are not run
                commands = [_strip_comment(b) for b in body if b.strip()]
                out.append((section, [c for c in commands if c]))
        i += 1
    return out


def _strip_comment(line: str) -> str:
    """`cmd   # comment` -> `cmd` (a # inside quotes is kept)."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        if ch == "#" and not quoted and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _section_key(section: str) -> str:
    for key in (*RUN_SECTIONS, *SKIPPED_SECTIONS):
        if section.startswith(key):
            return key
    return section


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKPIPE_", "VIRTUAL_ENV"))}
    env.update(
        STOCKPIPE_HOME=str(home),
        STOCKPIPE_SYMBOLS="AAPL,MSFT",
        STOCKPIPE_DASHBOARD_PORT=str(port),
        PATH="/usr/local/bin:/usr/bin:/bin",  # no .venv on PATH until the README sources it
    )
    return env


def _shell(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if command.startswith("source ") or command.startswith("make "):
        script = command
    else:
        script = f"source .venv/bin/activate && {command}"
    return subprocess.run(
        ["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


def _check(command: str, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{command!r} failed:\n{result.stdout}\n{result.stderr}"
    assert "error:" not in result.stderr and "Traceback" not in result.stderr, command


def _processed(home: Path) -> int:
    """Bars kept so far: the `process` checkpoint's count, summed over the workers'
    checkpoints (`process-w0`, `process-w1`, ...) when `make run` chose several."""
    total = 0
    checkpoints = home / "lake/_checkpoints"
    for path in [checkpoints / "process", *checkpoints.glob("process-w*")]:
        try:
            doc = json.loads((path / "checkpoint.json").read_text())
        except (OSError, ValueError):
            continue
        total += int(doc.get("state", {}).get("kept", 0))
    return total


def test_every_readme_block_is_classified() -> None:
    sections = {_section_key(s) for s, _ in readme_blocks()}
    assert sections == set(RUN_SECTIONS) | set(SKIPPED_SECTIONS)


def test_readme_commands_work_as_written(tmp_path) -> None:
    home, port = tmp_path / "home", _free_port()
    env = _env(home, port)
    blocks = [(_section_key(s), cmds) for s, cmds in readme_blocks()]
    runnable = [(s, cmds) for s, cmds in blocks if s in RUN_SECTIONS]
    ran: list[str] = []

    make_run = None
    try:
        for _section, commands in runnable:
            for command in commands:
                if command in SKIPPED_COMMANDS:
                    continue
                if command == "make run":
                    make_run = subprocess.Popen(
                        ["bash", "-c", command],
                        cwd=REPO,
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                        start_new_session=True,
                    )
                    deadline = time.monotonic() + 400
                    # Backfill: 5 sessions x 2 symbols x 390 bars, then a few live ones.
                    while _processed(home) <= 5 * 2 * 390 and time.monotonic() < deadline:
                        assert make_run.poll() is None, make_run.communicate()
                        time.sleep(1)
                    assert _processed(home) > 5 * 2 * 390
                    ran.append(command)
                    continue
                result = _shell(command, env)
                _check(command, result)
                ran.append(command)
                if command.startswith('stockpipe query "SELECT symbol, count(*)'):
                    assert "AAPL" in result.stdout and "MSFT" in result.stdout
                if command == "stockpipe status":
                    # Run from "another terminal" while `make run` runs: it sees the run.
                    assert "running (pid" in result.stdout and "live" in result.stdout
                    # Two readings a second apart: the rates of a running pipeline show.
                    assert re.search(r"ingest\s+\d[\d,]* rec/s", result.stdout), result.stdout
                    assert f"http://127.0.0.1:{port}/" in result.stdout
                    # Ctrl-C, then the stages one at a time on the same data folder.
                    assert make_run is not None
                    os.killpg(make_run.pid, signal.SIGINT)
                    out, err = make_run.communicate(timeout=120)
                    assert "Traceback" not in err, err
                    assert "stopped: checkpoints saved" in out
                    assert re.search(r"state\s+stopped cleanly", out)
                if command == "stockpipe --help":
                    assert "Usage: stockpipe" in result.stdout
                if command.startswith("stockpipe query --list"):
                    assert "daily_movers(" in result.stdout
    finally:
        if make_run is not None and make_run.poll() is None:
            os.killpg(make_run.pid, signal.SIGKILL)
            make_run.communicate()  # reads and closes the pipes
    expected = [c for s, cmds in runnable for c in cmds if c not in SKIPPED_COMMANDS]
    assert ran == expected and "make run" in ran and len(ran) >= 10
