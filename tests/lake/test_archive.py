"""The raw zone holds every stream record exactly once, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.local import LocalLake
from stockpipe.lake.raw import RawArchiver, iter_raw
from stockpipe.pipeline.stages import run_archive
from stockpipe.stream.consumer import Consumer
from stockpipe.stream.local import LocalStream


def test_archive_writes_firehose_style_partitions_and_keeps_payloads(tmp_path: Path) -> None:
    stream = LocalStream(tmp_path / "s.db", shard_count=2)
    lake = LocalLake(tmp_path / "lake")
    payloads = [
        b'{"symbol":"AAPL"}',
        b"\xff\xfenot utf-8",
        b"not json at all",
        '{"note":"Soci\u00e9t\u00e9 G\u00e9n\u00e9rale \u2014 \\"quoted\\"\\n"}'.encode(),
        b"tab\there, nul \x00 and line\nbreak",
    ]
    stream.put_records([("AAPL", p) for p in payloads])
    run_archive(stream, lake)
    files = lake.list("raw-data")
    assert len(files) == 1
    parts = files[0].split("/")
    assert parts[0] == "raw-data" and parts[1].startswith("dt=") and parts[2].startswith("hour=")
    assert parts[3].startswith(stream.shard_for("AAPL"))
    lines = [json.loads(x) for x in lake.read_bytes(files[0]).splitlines()]
    assert lines[0]["data"] == '{"symbol":"AAPL"}' and lines[0]["data_b64"] is None
    assert lines[1]["data"] is None and lines[1]["data_b64"] == "//5ub3QgdXRmLTg="
    # UTF-8 text is kept as text; control characters are escaped, one record per line.
    assert len(lines) == 5 and lines[3]["data"] == payloads[3].decode()
    assert lines[4]["data"] == "tab\there, nul \x00 and line\nbreak"
    assert [r.data for r in iter_raw(lake)] == payloads


def test_crash_after_write_before_checkpoint_leaves_no_duplicate(tmp_path: Path) -> None:
    stream = LocalStream(tmp_path / "s.db", shard_count=1)
    lake = LocalLake(tmp_path / "lake")
    stream.put_records([("AAPL", str(i).encode()) for i in range(30)])
    # First attempt: a batch of 20 written to the raw zone, then the process dies.
    crashed = Consumer(stream, LakeCheckpointStore(lake), "archive")
    RawArchiver(lake).write(crashed.poll(20).records)
    # The restarted archiver reads from the checkpoint again, in smaller batches.
    restarted = Consumer(stream, LakeCheckpointStore(lake), "archive")
    while True:
        batch = restarted.poll(7)
        if not batch.records:
            break
        RawArchiver(lake).write(batch.records)
        restarted.commit(batch)
    got = [int(r.data) for r in iter_raw(lake)]
    assert sorted(got) == list(range(30))
