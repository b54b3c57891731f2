"""Issue 19 items 2 and 4 on the dashboard side: /api/health carries the run's phase and
simulated clock, and an empty lake during a backfill never says "Start the pipeline"."""

from __future__ import annotations

import httpx
import pytest

from stockpipe.config import load_settings
from stockpipe.dashboard import start_dashboard
from stockpipe.pipeline import runstate
from stockpipe.pipeline.homelock import HomeLock


@pytest.fixture
def backfilling(tmp_path):  # type: ignore[no-untyped-def]
    """A home held by a run that is backfilling, with nothing processed yet."""
    settings = load_settings({"home": str(tmp_path / "home")}).settings
    lock = HomeLock(settings.home).acquire()
    runstate.write_state(
        settings.state_dir,
        runstate.INGEST,
        {
            "phase": "backfill",
            "sessions_done": 2,
            "sessions_total": 5,
            "clock": "2026-12-02T21:00:00+00:00",
            "speed": 60.0,
        },
    )
    handle = start_dashboard(settings, "127.0.0.1", 0, 1)
    yield settings, handle
    handle.stop()
    lock.release()


def test_health_reports_phase_and_clock_of_a_running_pipeline(backfilling) -> None:
    settings, handle = backfilling
    health = httpx.get(handle.url + "api/health", timeout=30).json()
    assert health["pipeline"] == {
        "running": True,
        "phase": "backfill 2/5 sessions",
        "backfill": True,
        # 21:00 UTC on 2 December is 16:00 in New York.
        "clock": "simulated Wed 2026-12-02 16:00 ET, backfill",
        "clock_ts": "2026-12-02T21:00:00+00:00",
    }
    runstate.write_state(
        settings.state_dir,
        runstate.INGEST,
        {"phase": "live", "clock": "2026-12-07T15:41:00+00:00", "speed": 60.0},
    )
    live = httpx.get(handle.url + "api/health", timeout=30).json()["pipeline"]
    assert live["phase"] == "live" and live["clock"] == "simulated Mon 2026-12-07 10:41 ET, 60x"


def test_stopped_pipeline_is_reported_as_stopped(tmp_path) -> None:
    settings = load_settings({"home": str(tmp_path / "home")}).settings
    handle = start_dashboard(settings, "127.0.0.1", 0, 1)
    try:
        pipeline = httpx.get(handle.url + "api/health", timeout=30).json()["pipeline"]
    finally:
        handle.stop()
    assert pipeline["running"] is False and pipeline["phase"] == "stopped"
    assert not (tmp_path / "home").exists()


@pytest.mark.integration
@pytest.mark.browser
def test_backfill_never_shows_start_the_pipeline(backfilling, browser) -> None:  # type: ignore[no-untyped-def]
    _, handle = backfilling
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(handle.url)
        page.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 2")
        banner = page.locator("#banner").inner_text()
        status = page.locator("#status").inner_text()
    finally:
        context.close()
    assert "Start the pipeline" not in banner
    assert "backfill 2/5 sessions" in banner
    assert status.endswith(" · simulated Wed 2026-12-02 16:00 ET, backfill")
