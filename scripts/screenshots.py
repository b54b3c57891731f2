"""Write docs/img/dashboard-*.png: one screenshot per dashboard section, over the fixture lake.

    .venv/bin/python scripts/screenshots.py

Uses the test fixture lake (tests/dashboard/conftest.py), the real server on 127.0.0.1 and
headless Debian Chromium, like the end-to-end tests.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"
SECTIONS = {
    "overview": None,  # the top of the page: filters, KPI cards, price trend
    "kpis": "#section-kpis",
    "price": "#section-price",
    "volume": "#section-volume",
    "compare": "#section-compare",
    "heatmap": "#section-heatmap",
    "indicators": "#section-indicators",
    "health": "#section-health",
}


def load_fixtures():  # type: ignore[no-untyped-def]
    path = ROOT / "tests" / "dashboard" / "conftest.py"
    spec = importlib.util.spec_from_file_location("dashboard_fixtures", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def main() -> None:
    from playwright.sync_api import sync_playwright

    from stockpipe.dashboard import start_dashboard
    from stockpipe.stream.consumer import Checkpoint

    fixtures = load_fixtures()
    lake = fixtures.build_fixture_lake(Path(tempfile.mkdtemp(prefix="stockpipe-shots-")))
    # Checkpoints so the health panel shows consumers, as a running pipeline would.
    Checkpoint("archive", shards={"shardId-000000000000": "239"}, state={"read": 720}).save(
        lake.lake
    )
    Checkpoint(
        "process",
        shards={"shardId-000000000000": "231"},
        state={"read": 712, "kept": 700, "duplicates": 9, "quarantined": 3},
    ).save(lake.lake)
    handle = start_dashboard(lake.settings, "127.0.0.1", 0, 60)
    OUT.mkdir(parents=True, exist_ok=True)
    query = "symbols=AAPL,MSFT,NVDA&window=1d&interval=1min&focus=AAPL&chart=candles&overlays=sma20,ema12,vwap,bb"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=fixtures.CHROMIUM, args=fixtures.CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(handle.url + "?" + query)
            page.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 1")
            page.wait_for_timeout(500)
            for name, selector in SECTIONS.items():
                target = OUT / f"dashboard-{name}.png"
                if selector is None:
                    page.screenshot(path=str(target))
                else:
                    page.locator(selector).screenshot(path=str(target))
                print(f"wrote {target.relative_to(ROOT)} ({target.stat().st_size // 1024} KB)")
            browser.close()
    finally:
        handle.stop()


if __name__ == "__main__":
    main()
