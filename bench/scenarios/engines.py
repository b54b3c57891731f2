"""Scenario 3, engines: `reprocess --engine local` against `--engine spark` on the same raw
zone, at 1x and 10x the size (10x = ten times the symbols), to show where Spark catches up.

Both rebuild processed-data/ from raw-data/ through their public entry points,
`stockpipe.processing.engine.reprocess` and `stockpipe.spark.reprocess_spark` (Spark in
local mode on this machine, its session started once and timed apart). A size whose
projected time (the previous size's, scaled linearly) exceeds --budget-s is not run and
is reported as not measured, with the projection.

    python bench/scenarios/engines.py --symbols 100 --days 20 --scales 1,10
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness
import issue21
from harness import Size

ID = "engines"
TITLE = "Engines: local vs Spark reprocess"
SIZES = {
    "symbols": Size(100, 2, "symbols at 1x (each scale multiplies them)"),
    "days": Size(20, 1, "sessions of 1-minute bars per symbol"),
    "scales": Size("1,10", "1", "comma-separated size multiples"),
    # --quick leaves Spark out: its JVM start alone takes longer than all other quick runs.
    "engines": Size("local,spark", "local", "comma-separated engines to run"),
    "repeats": Size(1, 1, "runs per engine and size; the figure is the median"),
    "budget_s": Size(900.0, 300.0, "skip a run projected to take longer than this"),
}
TARGET_RATIO = 10.0  # issue #12: local >= 10x faster than Spark at 1x
TARGET_SPARK_RATE = issue21.SPARK_RATE  # bars/s at 1x (780k bars)


def unavailable() -> str | None:
    try:
        import pyspark  # noqa: F401

        import stockpipe.spark  # noqa: F401
    except ImportError as exc:
        return f"the Spark engine cannot be imported ({exc})"
    if shutil.which("java") is None:
        return "no `java` on PATH: Spark needs a JVM"
    return None


def _fresh_copy(raw_root: Path) -> Path:
    work = harness.scratch_dir(ID)
    harness.link_copy(raw_root / "raw-data", work / "lake" / "raw-data")
    return work


def _time_engine(engine: str, raw_root: Path, repeats: int, spark: Any) -> tuple[list[float], int]:
    from stockpipe.lake.local import LocalLake
    from stockpipe.processing.engine import reprocess
    from stockpipe.spark import reprocess_spark

    durations, kept = [], -1
    for _ in range(repeats):
        work = _fresh_copy(raw_root)
        try:
            lake = work / "lake"
            if engine == "local":
                seconds, stats = harness.timed(lambda lake=lake: reprocess(LocalLake(lake)))
            else:
                seconds, stats = harness.timed(lambda lake=lake: reprocess_spark(spark, str(lake)))
            durations.append(seconds)
            kept = stats.kept
        finally:
            harness.remove(work)
    return durations, kept


def run(
    symbols: int, days: int, scales: str, engines: str, repeats: int, budget_s: float
) -> dict[str, Any]:
    import fixtures

    multiples = [int(s) for s in str(scales).split(",") if s.strip()]
    chosen = [e for e in ("local", "spark") if e in str(engines).split(",")]
    spark, spark_start = None, 0.0
    if "spark" in chosen:
        from stockpipe.spark import build_session

        started = time.perf_counter()
        spark = build_session(app_name="stockpipe-bench")
        spark_start = time.perf_counter() - started
    rows, metrics, notes = [], {}, []
    last: dict[str, tuple[int, float]] = {}  # engine -> (bars, seconds) of the last run size
    ratios: dict[int, float] = {}
    try:
        for scale in multiples:
            n_symbols = symbols * scale
            bars = n_symbols * days * 390
            row: dict[str, Any] = {"size": f"{scale}x", "bars": bars}
            times: dict[str, float] = {}
            kept: dict[str, int] = {}
            runnable = []
            for engine in chosen:
                if engine in last:
                    prev_bars, prev_s = last[engine]
                    projected = prev_s * bars / prev_bars
                    if projected > budget_s:
                        row[f"{engine} s"] = f"not run (projected ~{projected:,.0f} s)"
                        notes.append(
                            f"{engine} at {scale}x not run: projected ~{projected:,.0f} s from "
                            f"the {prev_bars:,}-bar run, over --budget-s {budget_s:.0f}"
                        )
                        continue
                runnable.append(engine)
            # The raw zone is built (or taken from the cache) only if some engine runs on it.
            raw_root = fixtures.raw_zone(n_symbols, days) if runnable else None
            for engine in runnable:
                durations, kept[engine] = _time_engine(engine, raw_root, repeats, spark)
                times[engine] = harness.median(durations)
                last[engine] = (bars, times[engine])
                row[f"{engine} s"] = round(times[engine], 1)
                row[f"{engine} bars/s"] = round(bars / times[engine])
            if len(times) == 2:
                ratios[scale] = times["spark"] / times["local"]
                row["spark s / local s = local ÷ Spark bars/s"] = round(ratios[scale], 2)
                if kept["local"] != kept["spark"]:
                    raise RuntimeError(
                        f"engines disagree at {scale}x: local kept {kept['local']}, "
                        f"spark kept {kept['spark']}"
                    )
            rows.append(row)
            metrics[f"{scale}x"] = {"bars": bars, "seconds": times}
    finally:
        if spark is not None:
            spark.stop()
    metrics["spark_session_start_s"] = spark_start
    if spark is None:
        notes.append("Spark not run (--engines): the ratio is not measured")
    else:
        notes.append(
            f"Spark: local[*] on {harness.machine_info()['cpu_count']} CPUs; its session "
            f"start ({spark_start:.1f} s) is not in the Spark times"
        )
    notes += [
        "a ratio > 1 means local is faster; each run rebuilds processed-data/ from a "
        "hard-linked copy of the cached raw zone (see bench/README.md)",
    ]
    if 1 in ratios:
        ratio = ratios[1]
        why = (
            f"local is only {ratio:.1f}x faster at 1x"
            if ratio >= 1
            else f"Spark is {1 / ratio:.1f}x faster than local at 1x"
        )
        targets = [
            harness.target(
                "local faster than Spark at 1x (spark time / local time)",
                round(ratio, 2),
                ">=",
                TARGET_RATIO,
                "x",
                why,
            )
        ]
    else:
        targets = [
            harness.not_measured(
                "local faster than Spark at 1x (spark time / local time)",
                ">=",
                TARGET_RATIO,
                "x",
                "not measured: the 1x size or an engine was left out (--scales, --engines)",
            )
        ]
    targets.append(spark_rate_target(metrics.get("1x")))
    return {"metrics": metrics, "targets": targets, "rows": rows, "notes": notes}


def spark_rate_target(one_x: dict[str, Any] | None) -> dict[str, Any]:
    """Issue #21: Spark local's bars/s on the 1x raw zone, with local ÷ Spark beside it."""
    name = "Spark local throughput at 1x"
    seconds = (one_x or {}).get("seconds", {})
    if "spark" not in seconds:
        return harness.not_measured(
            name,
            ">=",
            TARGET_SPARK_RATE,
            "bars/s",
            "not measured: Spark or the 1x size was left out (--engines, --scales)",
        )
    rate = one_x["bars"] / seconds["spark"]
    why = f"Spark local reprocessed {one_x['bars']:,} bars in {seconds['spark']:.1f} s"
    if "local" in seconds:
        why += f" (local ÷ Spark: {seconds['spark'] / seconds['local']:.2f}x in bars/s)"
    return harness.target(name, round(rate), ">=", TARGET_SPARK_RATE, "bars/s", why)


if __name__ == "__main__":
    harness.ensure_bench_on_path()
    sys.exit(harness.scenario_main("scenarios.engines"))
