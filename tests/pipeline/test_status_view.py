"""Issue 19 items 4-6 and 17 (status): a compact panel that fits 80x24, live values,
sequence numbers only in --json, and `status` on an empty home creates nothing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from stockpipe.config import load_settings
from stockpipe.metrics.local import LocalMetrics
from stockpipe.pipeline import runstate
from stockpipe.pipeline.homelock import HomeLock
from stockpipe.pipeline.panel import render_panel
from stockpipe.pipeline.status import LakeStatus

LONG = "x" * 300


def _draw(panel) -> list[str]:  # type: ignore[no-untyped-def]
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(panel)
    return console.export_text().rstrip("\n").split("\n")


def _report(**over) -> dict:  # type: ignore[no-untyped-def, type-arg]
    report = {
        "running": True,
        "pid": 4242,
        "url": "http://127.0.0.1:8501/",
        "phase": "backfill 3/5 sessions",
        "clock": "simulated Mon 2026-12-07 10:41 ET, 60x",
        "stages": {
            "ingest": {"rate": 1234.4, "in_stream": 31_200_000},
            "archive": {"rate": 1100.0, "lag_records": 120, "lag_ms": 400.0},
            "process": {"rate": 900.2, "lag_records": 2_300_000, "lag_ms": 3100.0},
        },
        "counters": {"read": 28_900_123, "kept": 28_800_000, "duplicates": 88, "quarantined": 12},
        "last_bar": datetime(2026, 12, 7, 15, 40, tzinfo=UTC),
        "warning": {"stage": "process", "message": LONG, "updated_at": "2026-12-06T08:00:01+00:00"},
        "consumers": [],
        "lake": LakeStatus({}, {}, None),
    }
    report.update(over)
    return report


def test_panel_fits_80x24_with_every_fact_and_no_sequence_numbers() -> None:
    lines = _draw(render_panel(_report()))
    assert len(lines) <= 24
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    for expected in (
        "running (pid 4242)",
        "backfill 3/5 sessions",
        "simulated Mon 2026-12-07 10:41 ET, 60x",
        "1,234 rec/s · 31,200,000 in stream",
        "1,100 rec/s · lag 120 records (0.4 s)",
        "900 rec/s · lag 2,300,000 records (3.1 s)",
        "28,800,000 bars kept of 28,900,123 read",
        "quarantined   12",
        "duplicates    88",
        # 15:40 UTC is 10:40 in New York in December (EST, UTC-5).
        "Mon 2026-12-07 10:40 ET (15:40 UTC)",
        "http://127.0.0.1:8501/",
        "08:00:01 process: xxx",
    ):
        assert expected in text, expected
    assert not re.search(r"\d{20}", text)


def test_the_frame_after_a_stop_says_stopped_not_alive() -> None:
    text = "\n".join(_draw(render_panel(_report(), stopped="stopped cleanly")))
    assert "stopped cleanly" in text
    assert "alive" not in text and "running" not in text


def test_status_after_a_run_names_its_verdict() -> None:
    ok = "\n".join(_draw(render_panel(_report(running=False, result="stopped cleanly"))))
    assert "state         stopped cleanly" in ok
    failed = _report(running=False, result="failed: process killed by SIGKILL (signal 9)")
    text = "\n".join(_draw(render_panel(failed)))
    assert "state         stopped, failed: process killed by SIGKILL (signal 9)" in text


def test_clock_text_is_in_new_york_time() -> None:
    # 14:41 UTC in July is 10:41 EDT; in December 15:41 UTC is 10:41 EST.
    summer = {"phase": "live", "clock": "2026-07-06T14:41:10+00:00", "speed": 60.0}
    winter = {"phase": "live", "clock": "2026-12-07T15:41:59+00:00", "speed": 1}
    assert runstate.clock_text(summer) == "simulated Mon 2026-07-06 10:41 ET, 60x"
    assert runstate.clock_text(winter) == "simulated Mon 2026-12-07 10:41 ET, 1x"
    assert runstate.clock_text(None) == "-"


def test_status_on_an_empty_home_creates_nothing(cli, tmp_path, monkeypatch) -> None:
    home = tmp_path / "never-made"
    monkeypatch.setenv("STOCKPIPE_HOME", str(home))
    text = cli("status")
    assert text.code == 0, text.err
    assert "stopped" in text.out
    doc = cli("status", "--json")
    assert doc.code == 0, doc.err
    assert json.loads(doc.out)["run"]["running"] is False
    assert not home.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _pipeline(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    for args in (
        ("ingest", "--days", "1", "--symbols", "AAPL,MSFT", "--start", "2026-12-01"),
        ("archive",),
        ("process",),
    ):
        result = cli(*args)
        assert result.code == 0, result.err


def test_sequence_numbers_only_in_json_and_metrics_are_read_live(cli, home, monkeypatch) -> None:
    _pipeline(cli, home)
    doc = json.loads(cli("status", "--json").out)
    checkpoints = doc["consumers"]["process"]["checkpoint"]
    seqs = [s for s in checkpoints.values() if s]
    assert seqs and all(re.fullmatch(r"\d{20,}", s) for s in seqs)
    assert doc["counters"] == {"read": 780, "kept": 780, "duplicates": 0, "quarantined": 0}
    assert doc["lake"]["last_bar"] == "2026-12-01T20:59:00+00:00"
    text = cli("status").out
    assert not any(s in text for s in seqs)
    assert "780 bars kept of 780 read" in text
    assert "Tue 2026-12-01 15:59 ET (20:59 UTC)" in text
    # A stage flushing its metrics while running: the next status shows the new value.
    settings = load_settings().settings
    metrics = LocalMetrics(settings.state_dir)
    metrics.put("ProcessingLagMs", 2500, "Milliseconds", stage="process")
    metrics.flush()
    doc = json.loads(cli("status", "--json").out)
    assert doc["stages"]["process"]["lag_ms"] == 2500.0
    assert "lag 0 records (2.5 s)" in cli("status").out
    metrics.put("ProcessingLagMs", 700, "Milliseconds", stage="process")
    metrics.flush()
    assert json.loads(cli("status", "--json").out)["stages"]["process"]["lag_ms"] == 700.0


def test_status_shows_a_running_pipelines_phase_clock_and_url(cli, home) -> None:
    settings = load_settings().settings
    lock = HomeLock(settings.home).acquire()
    try:
        runstate.write_state(settings.state_dir, runstate.RUN, {"url": "http://127.0.0.1:9999/"})
        runstate.write_state(
            settings.state_dir,
            runstate.INGEST,
            {
                "phase": "backfill",
                "sessions_done": 3,
                "sessions_total": 5,
                "clock": "2026-12-03T21:00:00+00:00",
                "speed": 60.0,
            },
        )
        runstate.write_state(
            settings.state_dir, runstate.WARNING, {"stage": "ingest", "message": "slow"}
        )
        out = cli("status").out
        doc = json.loads(cli("status", "--json").out)
    finally:
        lock.release()
    assert "backfill 3/5 sessions" in out
    assert "simulated Thu 2026-12-03 16:00 ET, backfill" in out
    assert "http://127.0.0.1:9999/" in out and "ingest: slow" in out
    assert doc["run"]["running"] is True and doc["run"]["phase"] == "backfill 3/5 sessions"
    import os

    assert doc["run"]["pid"] == os.getpid()
    # Once the run has stopped, its URL is not advertised any more.
    after = json.loads(cli("status", "--json").out)
    assert after["run"]["running"] is False and after["run"]["url"] is None
