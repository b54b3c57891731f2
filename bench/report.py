"""The report: one dated JSON document and its markdown rendering in bench/results/."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from issue21 import FIGURES, Figure, claimed

REPORT_VERSION = 1
# The issue's numbering of the scenarios; a report made with --only keeps these numbers.
ORDER = (
    "e2e",
    "stages",
    "engines",
    "kernel",
    "freshness",
    "queries",
    "incremental",
    "websocket",
    "dashboard",
    "backlog",
    "livebatch",
    "files",
)


def number(res: dict[str, Any], fallback: int) -> int:
    return ORDER.index(res["id"]) + 1 if res.get("id") in ORDER else fallback


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isinf(value):
            return "never (timed out)"
        if math.isnan(value):
            return "n/a"
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def _cell(value: Any) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def target_line(t: dict[str, Any]) -> str:
    return f"{t['op'].replace('>=', '≥').replace('<=', '≤')} {fmt(t['limit'], t['unit'])}"


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine.get('cpu_count')} CPUs ({machine.get('cpu_model')}), "
        f"{machine.get('memory_gib')} GiB RAM, {machine.get('platform')}, "
        f"Python {machine.get('python')}"
    )


def _target_cells(t: dict[str, Any]) -> str:
    met = "**met**" if t["met"] else "**missed**"
    return (
        f"{target_line(t)} | {_cell(fmt(t['value'], t['unit']))} | {met} | {_cell(t['reason'])} |"
    )


def issue21_table(results: list[dict[str, Any]]) -> list[str]:
    """One row per target of issue #21's table; a figure whose scenario did not run (or
    reported nothing for it) keeps its row, marked "not run" with the reason."""
    by_id = {res.get("id"): res for res in results}
    lines = [
        "| Issue #21 figure | Before | Target | Measured | Met | Reason if missed |",
        "|---|---|---|---|---|---|",
    ]
    for fig in FIGURES:
        res = by_id.get(fig.scenario)
        before = fig.today
        for label, t, why in _figure_rows(fig, res):
            if t is None:
                lines.append(
                    f"| {_cell(label)} | {before} | {fig.target} | not run | **not run** | "
                    f"{_cell(why)} |"
                )
            else:
                lines.append(f"| {_cell(label)} | {before} | {_target_cells(t)}")
            before = ""
    return lines


def _figure_rows(
    fig: Figure, res: dict[str, Any] | None
) -> list[tuple[str, dict[str, Any] | None, str]]:
    """(label, target or None, why not run) for each row of one figure."""
    if res is None:
        return [(fig.figure, None, f"scenario `{fig.scenario}` was not part of this run")]
    if res["status"] != "ok":
        why = f"{res['status']}: {res.get('reason') or 'no reason given'}"
        return [(fig.figure, None, why)]
    found = [t for t in res.get("targets", []) if fig.claims(fig.scenario, t["name"])]
    rows: list[tuple[str, dict[str, Any] | None, str]] = [
        (f"{fig.figure}: {t['name']}", t, "") for t in found
    ]
    for name in fig.targets:  # a named figure the report lacks (an older report)
        if not any(t["name"].startswith(name) for t in found):
            rows.append((f"{fig.figure}: {name}", None, "the report has no such figure"))
    return rows or [(fig.figure, None, "the scenario reported no figure for it")]


def targets_table(results: list[dict[str, Any]]) -> list[str]:
    """The targets of earlier issues (#12, #20) that no row of issue #21 carries."""
    lines = [
        "| # | Scenario | Target | Figure | Met | Reason if missed |",
        "|---|---|---|---|---|---|",
    ]
    issue21 = {fig.scenario for fig in FIGURES}
    for i, res in enumerate(results, 1):
        n = number(res, i)
        if res["status"] != "ok":
            if res.get("id") not in issue21:
                lines.append(
                    f"| {n} | {res['title']} | - | - | {res['status']} | "
                    f"{_cell(res.get('reason'))} |"
                )
            continue
        targets = res.get("targets", [])
        for t in targets:
            if not claimed(res.get("id", ""), t["name"]):
                lines.append(f"| {n} | {res['title']}: {t['name']} | {_target_cells(t)}")
        if not targets and res.get("id") not in issue21:
            lines.append(f"| {n} | {res['title']} | (report only) | see below | - | |")
    return lines


def targets_section(results: list[dict[str, Any]], heading: str = "###") -> list[str]:
    """Issue #21's table, then the other issues' targets (when any)."""
    lines = [f"{heading} Issue #21", "", *issue21_table(results)]
    others = targets_table(results)
    if len(others) > 2:
        lines += ["", f"{heading} Issues #12 and #20", "", *others]
    return lines


def rows_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    cols: list[str] = []
    for row in rows:
        cols += [c for c in row if c not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in cols) + " |")
    return lines


def render_scenario(res: dict[str, Any], number: int | None = None) -> str:
    head = f"### {number}. {res['title']}" if number else f"### {res['title']}"
    lines = [head, ""]
    sizes = ", ".join(f"{k}={v}" for k, v in res.get("sizes", {}).items())
    lines.append(
        f"Status: **{res['status']}**" + (f" ({res['reason']})" if res.get("reason") else "")
    )
    lines.append(f"Sizes: {sizes}")
    if res.get("seconds") is not None:
        lines.append(f"Wall time of the scenario: {res['seconds']} s")
    if res.get("process_peak_rss_bytes"):
        lines.append(
            f"Peak RSS of the scenario process: {res['process_peak_rss_bytes'] / 2**20:,.0f} MiB"
        )
    lines.append("")
    for t in res.get("targets", []):
        verdict = "met" if t["met"] else "MISSED"
        why = f": {t['reason']}" if t["reason"] else ""
        lines.append(
            f"- {t['name']}: {fmt(t['value'], t['unit'])} (target {target_line(t)}) **{verdict}**{why}"
        )
    if res.get("targets"):
        lines.append("")
    table = rows_table(res.get("rows", []))
    if table:
        lines += [*table, ""]
    for note in res.get("notes", []):
        lines.append(f"- {note}")
    if res.get("traceback"):
        lines += ["", "```", res["traceback"].rstrip(), "```"]
    return "\n".join(lines).rstrip() + "\n"


def _set_line(doc: dict[str, Any]) -> str:
    if "set" not in doc:
        return ""
    budget = f"time budget {doc['budget_s']:.0f} s" if doc.get("budget_s") else "no time budget"
    return f", set **{doc['set']}** ({budget}, {doc.get('seconds', '?')} s used)"


def render(doc: dict[str, Any]) -> str:
    machine = doc["machine"]
    lines = [
        f"# stockpipe benchmarks, {doc['started_at']}",
        "",
        f"Mode: **{doc['mode']}**{_set_line(doc)}. Machine: {machine_line(machine)}. "
        f"Commit {machine.get('git_commit')}. Load average before: "
        f"{', '.join(f'{x:.2f}' for x in machine['load_average'])}; after: "
        f"{', '.join(f'{x:.2f}' for x in doc.get('load_average_after', []))}.",
        "",
    ]
    if doc.get("notes"):
        lines += [f"- {n}" for n in doc["notes"]] + [""]
    lines += ["## Targets", "", *targets_section(doc["scenarios"]), "", "## Scenarios", ""]
    for i, res in enumerate(doc["scenarios"], 1):
        lines += [render_scenario(res, number(res, i)), ""]
    return "\n".join(lines).rstrip() + "\n"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_report(doc: dict[str, Any], out_dir: Path, stamp: str) -> tuple[Path, Path]:
    """bench/results/<stamp>[-quick].json and .md; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if doc["mode"] == "quick" else ""
    json_path = out_dir / f"{stamp}{suffix}.json"
    md_path = out_dir / f"{stamp}{suffix}.md"
    _atomic_write(json_path, json.dumps(doc, indent=1, default=str) + "\n")
    _atomic_write(md_path, render(doc))
    return json_path, md_path
