"""`make bench`: run every scenario and write a dated JSON + markdown report.

    python bench/run.py                 # every scenario at the issues' sizes (~45 min)
    python bench/run.py --set issue21   # issue #21's figures (~25 min, budget 40 min)
    python bench/run.py --quick         # tiny sizes, seconds: what `make test` checks
    python bench/run.py --only kernel,queries --repeats 5

Each scenario runs in its own spawned process, so its peak RSS is its own and no
scenario warms another's caches. A scenario whose stage is missing is "skipped".
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from issue21 import FIGURES  # noqa: E402
from report import number, write_report  # noqa: E402

# Run order: issue #21's figures first (its table's order), then the earlier issues' own.
# The report numbers them as report.ORDER does, whatever ran.
SCENARIOS = (
    "backlog",
    "e2e",
    "freshness",
    "livebatch",
    "engines",
    "kernel",
    "queries",
    "files",
    "dashboard",
    "stages",
    "incremental",
    "websocket",
)
# Each scenario's time budget at full size on this 2-core machine: about twice what it took
# (bench/README.md, "How long a run takes"), cold fixture builds included. A scenario still
# running at its budget is stopped and reported "timeout"; the whole run has a budget too.
BUDGET_S = {
    "backlog": 600.0,
    "e2e": 600.0,
    "freshness": 600.0,
    "livebatch": 1200.0,
    "engines": 1500.0,
    "kernel": 600.0,
    "queries": 900.0,
    "files": 300.0,
    "dashboard": 400.0,
    "stages": 300.0,
    "incremental": 1800.0,
    "websocket": 400.0,
}


@dataclass(frozen=True)
class ScenarioSet:
    ids: tuple[str, ...]
    budget_s: float  # the whole run's
    sizes: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> size overrides


SETS = {
    # Every scenario at the issues' sizes: about 45 min with warm fixture caches.
    "all": ScenarioSet(SCENARIOS, 4200.0),
    # Issue #21's table at its sizes, Spark compared at 1x only: about 25 min.
    "issue21": ScenarioSet(
        tuple(dict.fromkeys(fig.scenario for fig in FIGURES)), 2400.0, {"engines": {"scales": "1"}}
    ),
}


def not_started(mod: Any, sizes: dict[str, Any], why: str) -> dict[str, Any]:
    return {
        "id": mod.ID,
        "title": mod.TITLE,
        "sizes": sizes,
        "status": "not run",
        "reason": why,
        "targets": [],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="stockpipe benchmarks (issues #12, #20, #21)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: seconds, not minutes")
    parser.add_argument(
        "--set",
        choices=sorted(SETS),
        default="all",
        help="all: every scenario; issue21: issue #21's figures (about 25 min)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenario ids (default: the set's), e.g. kernel,e2e",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="override every scenario's repeat count"
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="time budget of the whole run (default: the set's; 0 = none); what is left "
        "when it is spent is reported 'not run'",
    )
    parser.add_argument(
        "--out", type=Path, default=harness.RESULTS_DIR, help="report folder (bench/results)"
    )
    args = parser.parse_args(argv)
    chosen_set = SETS[args.set]
    wanted = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = wanted - set(SCENARIOS)
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}"
        )
    chosen = [i for i in SCENARIOS if i in wanted] if wanted else list(chosen_set.ids)
    harness.keep_bytecode()
    modules = [importlib.import_module(f"scenarios.{i}") for i in chosen]
    budget = chosen_set.budget_s if args.budget_s is None else args.budget_s

    stamp = harness.utc_stamp()
    doc = {
        "report_version": 1,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "set": args.set,
        "budget_s": budget,
        "machine": harness.machine_info(),
        "notes": [],
        "scenarios": [],
    }
    started = time.perf_counter()
    for mod in modules:
        overrides = {"repeats": args.repeats} if "repeats" in mod.SIZES else {}
        if not args.quick:
            overrides = {**chosen_set.sizes.get(mod.ID, {}), **overrides}
        sizes = harness.sizes_for(mod, quick=args.quick, overrides=overrides)
        left = budget - (time.perf_counter() - started) if budget else math.inf
        if left <= 0:
            result = not_started(
                mod, sizes, f"the run's time budget of {budget:.0f} s was spent before it started"
            )
        else:
            print(f"[bench] {mod.ID}: {mod.TITLE} {sizes}", flush=True)
            result = harness.run_scenario(
                f"scenarios.{mod.ID}", sizes, min(left, BUDGET_S.get(mod.ID, math.inf))
            )
        print(f"[bench] {mod.ID}: {result['status']} in {result.get('seconds', '-')} s", flush=True)
        for t in result.get("targets", []):
            verdict = "met" if t["met"] else "MISSED"
            print(f"[bench]   {t['name']}: {t['value']} {t['unit']} -> {verdict}", flush=True)
        doc["scenarios"].append(result)
    doc["scenarios"].sort(key=lambda res: number(res, 99))
    doc["seconds"] = round(time.perf_counter() - started, 1)
    doc["load_average_after"] = list(os.getloadavg())
    doc["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    json_path, md_path = write_report(doc, args.out, stamp)
    print(f"[bench] report: {json_path} and {md_path}", flush=True)
    return 1 if any(r["status"] == "error" for r in doc["scenarios"]) else 0


if __name__ == "__main__":
    sys.exit(main())
