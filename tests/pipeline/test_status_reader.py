"""Issue 19 items 3, 5 and 6: rates from two readings, stage warnings, exit descriptions."""

from __future__ import annotations

import logging

from stockpipe.config import load_settings
from stockpipe.lake.local import LocalLake
from stockpipe.pipeline import runstate
from stockpipe.pipeline.runner import describe_exit
from stockpipe.pipeline.stages import run_archive
from stockpipe.pipeline.status import StatusReader
from stockpipe.stream.local import LocalStream


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _put(stream: LocalStream, n: int) -> None:
    stream.put_records([("AAPL", b'{"n":%d}' % i) for i in range(n)])


def test_rates_come_from_two_readings(tmp_path) -> None:
    settings = load_settings({"home": str(tmp_path / "home")}).settings
    stream = LocalStream(settings.stream_path, shard_count=2)
    lake = LocalLake(settings.lake_location)
    reader, clock = StatusReader(settings, stream, lake), Clock()
    first = reader.read(clock)
    assert first["stages"]["ingest"]["rate"] is None  # one reading: no rate yet
    _put(stream, 300)
    clock.t += 2.0
    second = reader.read(clock)
    assert second["stages"]["ingest"]["rate"] == 150.0  # 300 records in 2 s
    assert second["stages"]["ingest"]["in_stream"] == 300
    assert second["stages"]["archive"]["rate"] == 0.0
    assert second["stages"]["archive"]["lag_records"] == 300
    run_archive(stream, lake)
    clock.t += 4.0
    third = reader.read(clock)
    assert third["stages"]["ingest"]["rate"] == 0.0
    assert third["stages"]["archive"]["rate"] == 75.0  # 300 archived in 4 s
    assert third["stages"]["archive"]["lag_records"] == 0
    assert third["stages"]["process"]["lag_records"] == 300
    stream.close()


def test_a_stage_warning_lands_in_the_status(tmp_path) -> None:
    state = tmp_path / "state"
    log = logging.getLogger("stockpipe.test.warning")
    handler = runstate.WarningFile(state, "ingest")
    log.addHandler(handler)
    try:
        log.info("not a warning")
        assert runstate.read_state(state, runstate.WARNING) is None
        log.warning("rate limited by %s,\nretrying in %d s", "Alpha Vantage", 60)
    finally:
        log.removeHandler(handler)
    doc = runstate.read_state(state, runstate.WARNING)
    assert doc is not None
    assert doc["stage"] == "ingest"
    assert doc["message"] == "rate limited by Alpha Vantage, retrying in 60 s"


def test_exit_descriptions_name_the_code_or_the_signal() -> None:
    assert describe_exit(None) == "running"
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(2) == "exit code 2"
    assert describe_exit(-9) == "killed by SIGKILL (signal 9)"
    assert describe_exit(-15) == "killed by SIGTERM (signal 15)"
