"""The harness's statistics and target verdicts, on values worked out by hand."""

from __future__ import annotations

import math

import pytest
from harness import median, percentile, target
from report import fmt, render_scenario


@pytest.mark.parametrize(
    ("values", "expected"),
    [([3.0], 3.0), ([5.0, 1.0, 3.0], 3.0), ([4.0, 1.0, 3.0, 2.0], 2.5)],
    ids=["one", "odd", "even"],
)
def test_median(values: list[float], expected: float) -> None:
    assert median(values) == expected


def test_percentile_interpolates_like_numpy_linear() -> None:
    values = [float(v) for v in range(1, 11)]  # 1..10
    assert percentile(values, 50) == 5.5  # position 4.5 between 5 and 6
    assert percentile(values, 95) == pytest.approx(9.55)  # position 8.55
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0


def test_percentile_of_unseen_bars_is_infinite() -> None:
    assert math.isinf(percentile([0.1, 0.2, math.inf, math.inf], 99))
    assert fmt(math.inf, "s") == "never (timed out)"


def test_target_verdicts() -> None:
    assert target("rate", 100.0, ">=", 100.0, "bars/s")["met"] is True
    missed = target("rate", 99.0, ">=", 100.0, "bars/s", "too slow")
    assert missed["met"] is False and missed["reason"] == "too slow"
    assert target("p99", 1.5, "<=", 1.0, "s")["met"] is False
    assert target("p99", math.nan, "<=", 1.0, "s")["met"] is False


def test_render_marks_missed_targets() -> None:
    res = {
        "title": "Kernel",
        "status": "ok",
        "sizes": {"values": 10},
        "targets": [target("ratio", 3.0, "<=", 2.0, "x", "Python loop")],
        "rows": [{"implementation": "ours", "median s": 1.5}],
    }
    text = render_scenario(res, 4)
    assert "### 4. Kernel" in text
    assert "ratio: 3 x (target ≤ 2 x) **MISSED**: Python loop" in text
    assert "| ours | 1.5 |" in text
