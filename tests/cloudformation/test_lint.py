"""cfn-lint and checkov on the template and on its rendering for each ProcessingEngine value.

No errors, no warnings, suppressions only in-template. The renderings matter because the
linters see every conditional branch of the template at once, not what one value deploys.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stockpipe.aws.deploy import load_template
from stockpipe.aws.template_render import render

REPO = Path(__file__).resolve().parents[2]

# Runs external tools in subprocesses: part of `make test`, not of `make unit`.
pytestmark = pytest.mark.integration


def _tool(name: str) -> str | None:
    """The tool from this venv, the checkov venv (`.venv-checkov`), or PATH."""
    for candidate in (
        Path(sys.executable).parent / name,
        REPO / ".venv-checkov" / "bin" / name,
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


ENGINE_PARAMS = {
    "glue": {"ProcessingEngine": "glue"},
    "emr": {"ProcessingEngine": "emr", "EmrSubnetId": "subnet-0123456789abcdef0"},
    "emr-serverless": {"ProcessingEngine": "emr-serverless"},
}


@pytest.fixture(params=["template", *ENGINE_PARAMS])
def linted(request, template_path, tmp_path):  # type: ignore[no-untyped-def]
    """The committed template, then its rendering for each ProcessingEngine value."""
    if request.param == "template":
        return template_path
    params = {**ENGINE_PARAMS[request.param], "ArtifactsBucket": "stockpipe-artifacts-1-us-east-1"}
    doc = render(load_template(template_path), params)
    path = tmp_path / f"stockpipe-{request.param}.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


def _documented_skips(doc: dict) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    documented = set()
    for logical_id, res in doc["Resources"].items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 30, (logical_id, skip)
            documented.add((skip["id"], logical_id))
    return documented


def test_cfn_lint_reports_nothing(linted):  # type: ignore[no-untyped-def]
    cfn_lint = _tool("cfn-lint")
    assert cfn_lint, "cfn-lint is missing: pip install -e '.[test]'"
    # Informational findings (I*) are opt-in; errors and warnings are what must be empty.
    proc = subprocess.run(
        [cfn_lint, "--format", "parseable", str(linted)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.stdout == "" and proc.returncode == 0, proc.stdout + proc.stderr


def test_checkov_passes_with_documented_skips(linted):  # type: ignore[no-untyped-def]
    checkov = _tool("checkov")
    if checkov is None:
        pytest.fail(
            "checkov is missing; it conflicts with the test venv's pins, so `make test` "
            "installs it apart from requirements/checkov.txt into .venv-checkov/"
        )
    # BC_SKIP_MAPPING and --skip-download keep checkov offline (no Prisma Cloud lookups).
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    proc = subprocess.run(
        [checkov, "-f", str(linted), "--framework", "cloudformation",
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
    doc = load_template(linted) if linted.suffix == ".yaml" else json.loads(linted.read_text())
    assert skipped == _documented_skips(doc)
