"""The crash harness, short version: at least 5 SIGKILLs, nothing lost or duplicated."""

from __future__ import annotations

import pytest

from stockpipe.testing.chaos import run_chaos


@pytest.mark.integration
def test_consumers_killed_five_times_give_the_clean_result(tmp_path) -> None:
    verdict = run_chaos(tmp_path, kills=5, seed=3, days=2, log=False)
    assert verdict.kills == 5
    assert verdict.lost == 0
    assert verdict.duplicated == 0
    assert verdict.records_out == verdict.records_in > 2 * 4 * 390
    assert verdict.tables_identical == {"bars": True, "daily": True, "quarantine": True}
    # The processing invariant holds after the crashes, counting every record once.
    acc = verdict.accounting
    assert acc["read"] == verdict.records_in
    assert acc["read"] == acc["kept"] + acc["duplicates"] + acc["quarantined"]
    assert verdict.ok and verdict.line().startswith("PASS: kills survived 5")
