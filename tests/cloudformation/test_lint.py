"""cfn-lint and checkov on the template: no errors, no warnings, suppressions only in-template."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stockpipe.aws.deploy import load_template

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str | None:
    """The tool from this venv, the checkov venv (`.venv-checkov`), or PATH."""
    for candidate in (
        Path(sys.executable).parent / name,
        REPO / ".venv-checkov" / "bin" / name,
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def test_cfn_lint_reports_nothing(template_path):  # type: ignore[no-untyped-def]
    cfn_lint = _tool("cfn-lint")
    assert cfn_lint, "cfn-lint is missing: pip install -e '.[test]'"
    # Informational findings (I*) are opt-in; errors and warnings are what must be empty.
    proc = subprocess.run(
        [cfn_lint, "--format", "parseable", str(template_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.stdout == "" and proc.returncode == 0, proc.stdout + proc.stderr


def test_checkov_passes_with_documented_skips(template_path):  # type: ignore[no-untyped-def]
    checkov = _tool("checkov")
    if checkov is None:
        pytest.fail(
            "checkov is missing; it conflicts with the test venv's pins, so `make test` "
            "installs it apart from requirements/checkov.txt into .venv-checkov/"
        )
    # BC_SKIP_MAPPING and --skip-download keep checkov offline (no Prisma Cloud lookups).
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    proc = subprocess.run(
        [checkov, "-f", str(template_path), "--framework", "cloudformation",
         "--skip-download", "--output", "json"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    report = json.loads(proc.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"].get("failed_checks", [])]
    assert summary["failed"] == 0 and proc.returncode == 0, failed
    assert summary["passed"] > 20
    # Every skip that checkov honoured is written in the template with its reason.
    skipped = {
        (c["check_id"], c["resource"].split(".")[-1])
        for c in report["results"].get("skipped_checks", [])
    }
    documented = set()
    for logical_id, res in load_template(template_path)["Resources"].items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 30, (logical_id, skip)
            documented.add((skip["id"], logical_id))
    assert skipped == documented
