"""Every PBIP/PBIR JSON file validates against Microsoft's schema named in its `$schema`,
with every `$ref` resolved offline from the vendored tests/fixtures/powerbi-schemas."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from powerbi_support import POWER_BI, SCHEMA_URL_PREFIX, schema_for
from referencing import Registry

JSON_SUFFIXES = {".json", ".pbip", ".pbir", ".pbism"}
# Report theme files are resources, not definition files: Microsoft publishes no schema for
# them in the vendored folder, so they are checked for registration in report.json instead.
RESOURCE_DIR = "StockPipe.Report/StaticResources/RegisteredResources"


def _json_files() -> list[Path]:
    return sorted(p for p in POWER_BI.rglob("*") if p.is_file() and p.suffix in JSON_SUFFIXES)


def _definition_files() -> list[Path]:
    return [p for p in _json_files() if RESOURCE_DIR not in p.relative_to(POWER_BI).as_posix()]


def _validate(doc: dict[str, Any], registry: Registry) -> list[str]:
    schema = schema_for(doc["$schema"])
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, registry=registry)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def test_project_has_the_expected_kinds_of_files() -> None:
    names = {p.name for p in _definition_files()}
    assert {
        "StockPipe.pbip",
        "definition.pbir",
        "definition.pbism",
        "report.json",
        "version.json",
        "pages.json",
        "page.json",
        "visual.json",
    } <= names


@pytest.mark.parametrize(
    "path", _definition_files(), ids=lambda p: p.relative_to(POWER_BI).as_posix()
)
def test_file_is_valid_against_its_microsoft_schema(path: Path, schema_registry: Registry) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(doc.get("$schema"), str), f"{path} has no $schema"
    assert doc["$schema"].startswith(SCHEMA_URL_PREFIX)
    assert _validate(doc, schema_registry) == []


def test_registered_resources_are_listed_in_report_json() -> None:
    report = json.loads((POWER_BI / "StockPipe.Report/definition/report.json").read_text())
    listed = {item["path"] for pkg in report["resourcePackages"] for item in pkg["items"]}
    on_disk = {p.name for p in (POWER_BI / RESOURCE_DIR).iterdir()}
    assert listed == on_disk
    assert report["themeCollection"]["customTheme"]["name"] in listed


def _first_visual(kind: str) -> dict[str, Any]:
    for path in sorted(POWER_BI.rglob("visual.json")):
        doc = json.loads(path.read_text())
        if doc["visual"]["visualType"] == kind:
            return doc
    raise AssertionError(f"no {kind} visual")


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d: d.pop("position"),
        lambda d: d["visual"]["query"]["queryState"]["Values"]["projections"][0].pop("queryRef"),
        # Deep inside semanticQuery's schema, reached through two relative $refs.
        lambda d: d["visual"]["query"]["queryState"]["Values"]["projections"][0]["field"][
            "Measure"
        ].pop("Property"),
        lambda d: d["position"].update(x="left"),
    ],
    ids=["no-position", "no-queryRef", "measure-without-property", "string-x"],
)
def test_validation_is_not_vacuous(break_it: Any, schema_registry: Registry) -> None:
    card = _first_visual("card")
    assert _validate(card, schema_registry) == []
    broken = copy.deepcopy(card)
    break_it(broken)
    assert _validate(broken, schema_registry) != []


def test_missing_schema_folder_fails_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import powerbi_support

    monkeypatch.setattr(powerbi_support, "SCHEMAS_DIR", tmp_path / "nowhere")
    with pytest.raises(pytest.fail.Exception, match="schemas are missing: expected .*nowhere"):
        powerbi_support.build_schema_registry()


def test_stated_minimum_desktop_matches_the_schema_versions_written() -> None:
    """The guide's minimum Power BI Desktop is tied to the PBIR schema versions we write: a
    newer schema means a newer minimum, so bumping one without the other fails here."""
    import re

    from stockpipe.powerbi.report import MINIMUM_DESKTOP

    written: set[str] = set()
    for name in ("report.json", "page.json", "visual.json"):
        for path in POWER_BI.rglob(name):
            url = json.loads(path.read_text())["$schema"]
            m = re.search(r"definition/(report|page|visualContainer)/(\d+\.\d+\.\d+)/", url)
            assert m, url
            written.add(f"{m.group(1)} {m.group(2)}")
    assert written == {"report 3.0.0", "page 2.0.0", "visualContainer 2.4.0"}
    guide = (POWER_BI / "README.md").read_text()
    assert MINIMUM_DESKTOP == "November 2025"
    assert f"**{MINIMUM_DESKTOP} or later**" in guide
    assert "report 3.0.0, page 2.0.0 and visualContainer\n2.4.0" in guide
    assert "July 2024" not in guide
