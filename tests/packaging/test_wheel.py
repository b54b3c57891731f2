"""The wheel works on its own: built, installed into a fresh venv outside the checkout, and
run from a folder that is not the checkout (issue: reproducible set-up).

The venv gets the wheel plus the locked runtime dependencies (exported from uv.lock), never the
checkout's `src/`: the test asserts the imported package lives in the new venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def _uv() -> str:
    for candidate in (REPO / ".venv-uv" / "bin" / "uv", Path(sys.executable).parent / "uv"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("uv")
    if found is None:
        pytest.fail("uv is missing: `make install` puts it in .venv-uv/", pytrace=False)
    return found


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (outside the checkout) holding only the wheel and its locked deps."""
    uv = _uv()
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    _run([uv, "build", "-q", "--wheel", "-o", str(dist), str(REPO)], cwd=work)
    (wheel,) = dist.glob("stockpipe-*.whl")
    reqs = work / "requirements.txt"
    _run(
        [uv, "export", "-q", "--frozen", "--no-emit-project", "--no-hashes",
         "--no-header", "-o", str(reqs)],
        cwd=REPO,
    )  # fmt: skip
    venv = work / "venv"
    _run([uv, "venv", "-q", "--python", sys.executable, str(venv)], cwd=work)
    _run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
          "-r", str(reqs), str(wheel)], cwd=work)  # fmt: skip
    return venv


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKPIPE_", "PYTHON"))}
    env["STOCKPIPE_HOME"] = str(home)
    return env


def test_wheel_ships_the_sql_and_runs_outside_the_checkout(installed: Path, tmp_path: Path):
    bin_dir = installed / "bin"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(elsewhere / "home")

    where = _run([str(bin_dir / "python"), "-c", "import stockpipe; print(stockpipe.__file__)"],
                 cwd=elsewhere, env=env)  # fmt: skip
    assert where.strip().startswith(str(installed)), where

    # A small lake made by the installed package itself: one simulated session, two symbols.
    stockpipe = str(bin_dir / "stockpipe")
    _run([stockpipe, "ingest", "--symbols", "AAPL,MSFT", "--days", "1",
          "--start", "2026-11-30"], cwd=elsewhere, env=env)  # fmt: skip
    _run([stockpipe, "process"], cwd=elsewhere, env=env)

    rows = _run([stockpipe, "query", "--name", "latest_kpis", "--format", "csv"],
                cwd=elsewhere, env=env)  # fmt: skip
    lines = rows.strip().splitlines()
    assert lines[0].startswith("symbol,interval,ts,last_price"), lines[0]
    # One row per symbol and interval; the simulator's session ends at 16:00 ET (21:00 UTC).
    assert [line.split(",")[0] for line in lines[1:]] == ["AAPL", "MSFT"]
    assert all(",2026-11-30T20:59:00+00:00," in line for line in lines[1:]), lines

    ddl = _run([stockpipe, "athena", "ddl"], cwd=elsewhere, env=env)
    shipped = Path(where.strip()).parent / "sql" / "athena_queries" / "ddl" / "01_bars.sql"
    assert "CREATE EXTERNAL TABLE" in ddl
    assert shipped.read_text().strip() in ddl


def test_wheel_ships_the_stack_and_generates_power_bi(installed: Path, tmp_path: Path):
    """What `deploy` and `powerbi generate` read at run time comes from the package too."""
    env = _env(tmp_path / "home")
    probe = (
        "from stockpipe.aws.deploy import DEFAULT_TEMPLATE, EMR_BOOTSTRAP, load_template\n"
        "t = load_template(DEFAULT_TEMPLATE)\n"
        "print(DEFAULT_TEMPLATE)\n"
        "print(EMR_BOOTSTRAP.is_file())\n"
        "print('GlueJob' in t['Resources'], 'ProcessingEngine' in t['Parameters'])\n"
    )
    out = _run([str(installed / "bin" / "python"), "-c", probe], cwd=tmp_path, env=env)
    template, bootstrap, resources = out.strip().splitlines()
    assert template.startswith(str(installed)), template
    # Byte-identical to the copy in the repository: the wheel deploys what the repo tests.
    repo_template = REPO / "src" / "stockpipe" / "aws" / "cloudformation" / "stockpipe.yaml"
    assert Path(template).read_bytes() == repo_template.read_bytes()
    assert (bootstrap, resources) == ("True", "True True")

    out_dir = tmp_path / "pbi"
    _run([str(installed / "bin" / "stockpipe"), "powerbi", "generate", "--out", str(out_dir)],
         cwd=tmp_path, env=env)  # fmt: skip
    generated = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(REPO / "power-bi").as_posix()
        for p in (REPO / "power-bi").rglob("*")
        if p.is_file()
    )
    assert generated == committed
    guide = (out_dir / "README.md").read_text()
    assert guide == (REPO / "power-bi" / "README.md").read_text()
