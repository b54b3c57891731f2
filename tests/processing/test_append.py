"""The append fast path: live one-minute batches give the lake one-shot processing gives."""

from __future__ import annotations

import json
from pathlib import Path

from processing_factories import by_minute, simulate, snapshot

from stockpipe.lake.local import LocalLake
from stockpipe.processing.engine import Processor
from stockpipe.stream.base import StreamRecord


def test_live_minutes_take_the_fast_path_and_equal_one_shot(tmp_path: Path) -> None:
    sim, records = simulate(["AAA", "BBB", "CCC"], sessions=2, seed=3, fault_rate=0.03)
    minutes = by_minute(records)
    assert len(minutes) == 2 * 390
    # Live minutes at the open (general path until a series has state to resume, then
    # appended), the rest of the first session in one batch (appended), then live
    # minutes of the next session, which resume from the previous session's last bar.
    batches = [*minutes[:40], [r for m in minutes[40:390] for r in m], *minutes[390:450]]
    # Then a mixed batch: the next minute of AAA and BBB (appended) with a correction of
    # an earlier CCC bar (merged and recomputed by the general path) in the same session.
    late = next(r for r in minutes[445] if r.partition_key == "CCC")
    doc = json.loads(late.data)
    doc["close"] = doc["open"]
    last = batches[-1][-1]
    mixed = [r for r in minutes[450] if r.partition_key != "CCC"]
    batches.append(
        [
            *mixed,
            StreamRecord(last.shard_id, "999999", "CCC", json.dumps(doc).encode(), last.arrival_ts),
        ]
    )
    live = LocalLake(tmp_path / "live")
    processor = Processor(live)
    totals = [processor.process(batch) for batch in batches]
    one = LocalLake(tmp_path / "one")
    whole = Processor(one).process([r for batch in batches for r in batch])

    assert snapshot(live) == snapshot(one)
    assert sum(t.kept for t in totals) == whole.kept == 3 * 450 + 2
    assert sum(t.duplicates for t in totals) == whole.duplicates > 0
    assert sum(t.quarantined for t in totals) == whole.quarantined > 0
    # Every batch but the correction is appended, the first bars of each series and
    # its young minutes (no resumable state before bar SEEDED_AT, 33) included.
    assert processor.general_series == 1
    assert processor.fast_series == 3 * (40 + 1 + 60) + 2
