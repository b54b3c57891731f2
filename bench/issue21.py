"""Issue #21's Targets table: each figure, what the issue measured before, its target, and
which scenario's targets measure it. The scenarios take their limits from here and the
report renders one row per figure from here, so a figure that did not run still has a row.
"""

from __future__ import annotations

from dataclasses import dataclass

# The limits, in the units the scenarios report them in.
PROCESS_RATE = 120_000  # bars/s, the process stage alone with --workers 2
E2E_RATE = 100_000  # bars/s
E2E_RSS_MIB = 2048
FRESHNESS_P99_S = 0.25
LATE_OVER_EARLY = 1.2  # a batch at minute 300 / a batch at minute 1
SPARK_RATE = 30_000  # bars/s, Spark local on 780k bars
KERNEL_RATIO = 1.5  # ours / TA-Lib, cold and warm
QUERY_P95_MS = 100.0  # was 150 in issue #12
FILES_AFTER_COMPACTION = 1  # per partition and table
DRAWN_P99_S = 1.0


@dataclass(frozen=True)
class Figure:
    """One row of the issue's table and where the report finds its measurement."""

    figure: str  # the wording
    today: str  # what the issue measured before the work
    target: str  # the target, as written
    scenario: str  # the scenario ID that measures it
    targets: tuple[str, ...] = ()  # names (prefixes) of that scenario's targets; () = all

    def claims(self, scenario: str, name: str) -> bool:
        if scenario != self.scenario:
            return False
        return not self.targets or any(name.startswith(t) for t in self.targets)


FIGURES = (
    Figure(
        "process stage alone, 780k-bar backlog",
        "12k bars/s",
        "≥ 120k bars/s (with `--workers 2`)",
        "backlog",
    ),
    Figure(
        "end to end (ingest + archive + process, 780k bars)",
        "7.5k bars/s",
        "≥ 100k bars/s, peak RSS ≤ 2 GiB",
        "e2e",
    ),
    Figure(
        "freshness p99, 500 symbols x 1 bar/s, for 5 min, including late-session batches",
        "16.4 s",
        "≤ 0.25 s",
        "freshness",
    ),
    Figure(
        "a live batch at minute 300 of the session ÷ a batch at minute 1",
        "about 2.5x",
        "≤ 1.2x",
        "livebatch",
    ),
    Figure(
        "Spark local on 780k bars",
        "7.8k bars/s",
        "≥ 30k bars/s (and report local ÷ Spark)",
        "engines",
        ("Spark local throughput", "local faster than Spark at 1x"),
    ),
    Figure(
        "kernel ÷ TA-Lib at 10M values, same memory state",
        "40.8x as reported",
        "≤ 1.5x, cold and warm both reported",
        "kernel",
    ),
    Figure(
        "every named dashboard query, p95 on 10M bars",
        "3 over 150 ms",
        "all ≤ 100 ms",
        "queries",
    ),
    Figure(
        "files per partition after compaction",
        "1",
        "1; between compactions ≤ 1 per batch per table",
        "files",
    ),
    Figure(
        "bar in the stream → drawn in the dashboard, p99 (headless Chromium, 50 symbols live)",
        "about 5 s (polling)",
        "≤ 1 s",
        "dashboard",
    ),
)


def claimed(scenario: str, name: str) -> bool:
    """True when a target belongs to one of the issue's figures."""
    return any(f.claims(scenario, name) for f in FIGURES)
