"""`make bench`: run every scenario and write a dated JSON + markdown report.

    python bench/run.py                 # the issue's sizes (tens of minutes)
    python bench/run.py --quick         # tiny sizes, seconds: what `make test` checks
    python bench/run.py --only kernel,queries --repeats 5

Each scenario runs in its own spawned process, so its peak RSS is its own and no
scenario warms another's caches. A scenario whose stage is missing is "skipped".
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from report import write_report  # noqa: E402

# In the order; a module's file name is its ID.
SCENARIOS = (
    "scenarios.e2e",
    "scenarios.stages",
    "scenarios.engines",
    "scenarios.kernel",
    "scenarios.freshness",
    "scenarios.queries",
    "scenarios.incremental",
    "scenarios.websocket",
    "scenarios.dashboard",
    "scenarios.backlog",
    "scenarios.livebatch",
    "scenarios.files",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="stockpipe benchmarks (issue #12)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: seconds, not minutes")
    parser.add_argument(
        "--only", default="", help="comma-separated scenario ids (default: all), e.g. kernel,e2e"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="override every scenario's repeat count"
    )
    parser.add_argument(
        "--out", type=Path, default=harness.RESULTS_DIR, help="report folder (bench/results)"
    )
    args = parser.parse_args(argv)
    wanted = {s.strip() for s in args.only.split(",") if s.strip()}
    ids = [name.rsplit(".", 1)[1] for name in SCENARIOS]
    unknown = wanted - set(ids)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {', '.join(ids)}")
    chosen = [n for n, i in zip(SCENARIOS, ids, strict=True) if not wanted or i in wanted]
    harness.keep_bytecode()
    modules = [importlib.import_module(m) for m in chosen]

    stamp = harness.utc_stamp()
    doc = {
        "report_version": 1,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": harness.machine_info(),
        "notes": [],
        "scenarios": [],
    }
    started = time.perf_counter()
    for name, mod in zip(chosen, modules, strict=True):
        overrides = {"repeats": args.repeats} if "repeats" in mod.SIZES else {}
        sizes = harness.sizes_for(mod, quick=args.quick, overrides=overrides)
        print(f"[bench] {mod.ID}: {mod.TITLE} {sizes}", flush=True)
        result = harness.run_scenario(name, sizes)
        print(f"[bench] {mod.ID}: {result['status']} in {result.get('seconds', '-')} s", flush=True)
        for t in result.get("targets", []):
            verdict = "met" if t["met"] else "MISSED"
            print(f"[bench]   {t['name']}: {t['value']} {t['unit']} -> {verdict}", flush=True)
        doc["scenarios"].append(result)
    doc["seconds"] = round(time.perf_counter() - started, 1)
    doc["load_average_after"] = list(os.getloadavg())
    doc["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    json_path, md_path = write_report(doc, args.out, stamp)
    print(f"[bench] report: {json_path} and {md_path}", flush=True)
    return 1 if any(r["status"] == "error" for r in doc["scenarios"]) else 0


if __name__ == "__main__":
    sys.exit(main())
