"""Every install goes through uv.lock, and `make lint` refuses a stale lock."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _uv() -> str:
    candidate = REPO / ".venv-uv" / "bin" / "uv"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("uv is missing: `make install` puts it in .venv-uv/", pytrace=False)
    return found


def _lock_check(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_uv(), "lock", "--check", "--offline"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.integration  # make in a subprocess
def test_make_lint_and_install_go_through_the_lock() -> None:
    plan = subprocess.run(
        ["make", "-n", "-B", "lint"], cwd=REPO, capture_output=True, text=True, timeout=60
    ).stdout
    assert "uv lock --check" in plan
    assert "sync -q --locked" in plan


@pytest.mark.integration  # uv in a subprocess
def test_a_pyproject_change_without_a_new_lock_fails_the_check(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(REPO / name, tmp_path / name)
    fresh = _lock_check(tmp_path)
    assert fresh.returncode == 0, fresh.stderr

    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text()
    assert '"typer>=0.12"' in text
    pyproject.write_text(text.replace('"typer>=0.12"', '"typer>=0.13"'))
    stale = _lock_check(tmp_path)
    assert stale.returncode != 0
    assert "needs to be updated" in stale.stderr


def test_the_lock_pins_what_moto_and_glue_need() -> None:
    lock = (REPO / "uv.lock").read_text()

    def locked(name: str) -> str:
        block = lock.split(f'\nname = "{name}"\nversion = "', 1)[1]
        return block.split('"', 1)[0]

    # Athena moved to rest-json in botocore 1.44.18, which moto's server does not answer.
    assert tuple(int(x) for x in locked("botocore").split(".")) <= (1, 44, 13)
    assert locked("pyspark").startswith("3.5.")
