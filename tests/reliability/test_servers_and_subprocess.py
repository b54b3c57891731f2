"""Every server binds 127.0.0.1 unless told otherwise; no subprocess or shell call exists
that could receive user input."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stockpipe.config import load_settings
from stockpipe.dashboard import server as dashboard_server

REPO = Path(__file__).resolve().parents[2]
# Python we ship or run: the package, the Spark jobs, the benchmarks and the scripts.
SCANNED = ("src", "pyspark-jobs", "bench", "scripts")

# Each allowed process-spawning site: (file, what) -> why no user input can reach it.
# The package itself (src/) starts no subprocess and no shell. The chaos harness starts
# its consumers with multiprocessing (a Python function with fixed arguments), which is
# not a shell and is not matched below.
ALLOWED_SPAWNS: dict[tuple[str, str], str] = {
    ("bench/harness.py", "import subprocess"): "for the git call below",
    ("bench/harness.py", "subprocess.run"): (
        "`git -C <repo> rev-parse --short HEAD` to label a benchmark report: a literal argv "
        "list, no shell, nothing from the command line"
    ),
}

# Each place that opens a listening socket -> what decides its address.
ALLOWED_BINDS = {
    ("src/stockpipe/dashboard/server.py", "sock.bind((host, port))"): (
        "dashboard: host = --host or STOCKPIPE_DASHBOARD_HOST, default 127.0.0.1"
    ),
}

_SPAWN_MODULES = {"subprocess", "pty", "commands"}
_SPAWN_OS = {"system", "popen", "startfile"}
_SPAWN_OS_PREFIXES = ("exec", "spawn", "posix_spawn")
_SPAWN_ASYNCIO = {"create_subprocess_exec", "create_subprocess_shell"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def spawn_sites(source: str) -> list[tuple[int, str]]:
    """(line, what) for every import or call that can start a process or a shell."""
    return [(line, what) for line, what, _ in spawn_nodes(source)]


def spawn_nodes(source: str) -> list[tuple[int, str, ast.AST]]:
    found: list[tuple[int, str, ast.AST]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in _SPAWN_MODULES:
                    found.append((node.lineno, f"import {alias.name}", node))
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            names = {a.name for a in node.names}
            spawny_os = root == "os" and any(
                n in _SPAWN_OS or n.startswith(_SPAWN_OS_PREFIXES) for n in names
            )
            if root in _SPAWN_MODULES or spawny_os or names & _SPAWN_ASYNCIO:
                found.append((node.lineno, f"from {node.module} import {sorted(names)}", node))
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            head, _, attr = name.rpartition(".")
            if (
                head.split(".")[0] in _SPAWN_MODULES
                or head == "os"
                and (attr in _SPAWN_OS or attr.startswith(_SPAWN_OS_PREFIXES))
                or attr in _SPAWN_ASYNCIO
            ):
                found.append((node.lineno, name, node))
            for kw in node.keywords:
                if kw.arg == "shell" and not (
                    isinstance(kw.value, ast.Constant) and kw.value.value is False
                ):
                    found.append((node.lineno, f"{name}(shell=...)", node))
    return found


def bind_sites(source: str) -> list[tuple[int, str]]:
    """Calls that listen: `.bind(...)`, uvicorn.run, HTTPServer/TCPServer, moto servers."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            last = name.rsplit(".", 1)[-1]
            # socket.bind takes one address tuple; other .bind methods (SQL parameters) not.
            listens = last == "bind" and bool(node.args) and isinstance(node.args[0], ast.Tuple)
            if (
                listens
                or last in ("HTTPServer", "TCPServer", "ThreadingHTTPServer", "ThreadedMotoServer")
                or name in ("uvicorn.run", "run_simple")
            ):
                found.append((node.lineno, name))
    return found


def python_files() -> list[Path]:
    return sorted(p for d in SCANNED if (REPO / d).is_dir() for p in (REPO / d).rglob("*.py"))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import subprocess\nsubprocess.run(['ls'])", ["import subprocess", "subprocess.run"]),
        ("import os\nos.system('rm -rf ' + user)", ["os.system"]),
        ("from os import popen\npopen(x)", ["from os import ['popen']"]),
        ("import os\nos.execvp('sh', args)", ["os.execvp"]),
        ("import asyncio\nasyncio.create_subprocess_shell(c)", ["asyncio.create_subprocess_shell"]),
        ("run(cmd, shell=True)", ["run(shell=...)"]),
        ("run(cmd, shell=flag)", ["run(shell=...)"]),
        ("run(cmd, shell=False)\nos.path.join('a')", []),
    ],
    ids=["subprocess", "os-system", "from-os-popen", "os-exec", "asyncio", "shell-true",
         "shell-variable", "harmless"],
)  # fmt: skip
def test_the_scanner_finds_every_kind_of_spawn(source: str, expected: list[str]) -> None:
    assert [what for _, what in spawn_sites(source)] == expected


def test_no_subprocess_or_shell_call_outside_the_allow_list() -> None:
    files = python_files()
    assert any(p.name == "server.py" for p in files)  # the scan really covers src/
    found: dict[tuple[str, str], ast.AST] = {}
    for path in files:
        for _, what, node in spawn_nodes(path.read_text(encoding="utf-8")):
            found[(path.relative_to(REPO).as_posix(), what)] = node
    assert set(found) == set(ALLOWED_SPAWNS), sorted(found)
    assert not [key for key in found if key[0].startswith("src/")]
    for key, node in found.items():
        if isinstance(node, ast.Call):
            # Allowed calls take a literal argv list and never a shell.
            assert node.args and isinstance(node.args[0], ast.List), key
            assert all(kw.arg != "shell" for kw in node.keywords), key


def test_every_listening_socket_is_on_the_allow_list() -> None:
    found = set()
    for path in python_files():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for lineno, _ in bind_sites(text):
            found.add((path.relative_to(REPO).as_posix(), lines[lineno - 1].strip()))
    assert found == set(ALLOWED_BINDS)


def test_no_wildcard_address_is_a_default_anywhere_in_src() -> None:
    offenders = []
    for path in (REPO / "src").rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ("0.0.0.0" in line or '"::"' in line) and "display only" not in line:  # noqa: S104
                offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert offenders == []


def test_dashboard_default_is_loopback_and_really_binds_there() -> None:
    settings = load_settings().settings
    assert settings.dashboard_host == "127.0.0.1"
    sock = dashboard_server._bind(settings.dashboard_host, 0)
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()


@pytest.mark.parametrize("command", ["dashboard", "run"])
def test_help_shows_the_loopback_default_and_its_env_var(cli, command: str) -> None:
    result = cli(command, "--help")
    assert result.code == 0
    text = " ".join(result.out.split())
    assert "STOCKPIPE_DASHBOARD_HOST" in text
    if command == "dashboard":
        assert "default 127.0.0.1" in text


def test_the_dashboard_host_only_changes_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPIPE_DASHBOARD_HOST", "::1")
    assert load_settings().settings.dashboard_host == "::1"
    monkeypatch.delenv("STOCKPIPE_DASHBOARD_HOST")
    assert load_settings().settings.dashboard_host == "127.0.0.1"
