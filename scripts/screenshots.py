"""Write docs/img/dashboard-*.png: one screenshot per dashboard section, over the fixture lake.

    .venv/bin/python scripts/screenshots.py

Uses the test fixtures' week lake (tests/dashboard/conftest.py: eight whole sessions around
Christmas and New Year), the real server on 127.0.0.1 and headless Debian Chromium, like the
end-to-end tests: desktop shots at 1440x900, and the top of the page on a 390x844 phone.
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
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def load_fixtures():  # type: ignore[no-untyped-def]
    path = ROOT / "tests" / "dashboard" / "conftest.py"
    spec = importlib.util.spec_from_file_location("dashboard_fixtures", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def report(target: Path) -> None:
    print(f"wrote {target.relative_to(ROOT)} ({target.stat().st_size // 1024} KB)")


def main() -> None:
    from playwright.sync_api import sync_playwright

    from stockpipe.dashboard import start_dashboard
    from stockpipe.lake.checkpoints import LakeCheckpointStore
    from stockpipe.stream.checkpoint import Checkpoint
    from stockpipe.testing.browser import launch_chromium

    fixtures = load_fixtures()
    lake = fixtures.build_week_lake(Path(tempfile.mkdtemp(prefix="stockpipe-shots-")))
    # Checkpoints so the health panel shows consumers, as a running pipeline would.
    store = LakeCheckpointStore(lake.lake)
    store.save(Checkpoint("archive", shards={"shardId-000000000000": "239"}, state={"read": 720}))
    store.save(
        Checkpoint(
            "process",
            shards={"shardId-000000000000": "231"},
            state={"read": 712, "kept": 700, "duplicates": 9, "quarantined": 3},
        )
    )
    handle = start_dashboard(lake.settings, "127.0.0.1", 0, 60)
    OUT.mkdir(parents=True, exist_ok=True)
    # 5 sessions of 15-minute candles over a weekend and a holiday, in exchange time; the
    # volume on a log scale because NVDA trades 50 times the others.
    query = (
        "symbols=AAPL,MSFT,NVDA&window=5d&interval=15m&focus=AAPL&chart=candles"
        "&overlays=sma20,vwap,bb&vlog=1"
    )
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)  # the tests' headless flags
            page = browser.new_page(viewport=DESKTOP)
            page.goto(handle.url + "?" + query)
            page.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 1")
            page.wait_for_timeout(500)
            for name, selector in SECTIONS.items():
                target = OUT / f"dashboard-{name}.png"
                if selector is None:
                    page.screenshot(path=str(target))
                else:
                    page.locator(selector).screenshot(path=str(target))
                report(target)
            phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            page = phone.new_page()
            page.goto(handle.url + "?" + query.replace("&vlog=1", ""))
            page.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 1")
            page.wait_for_timeout(500)
            target = OUT / "dashboard-phone.png"
            page.screenshot(path=str(target))
            report(target)
            browser.close()
    finally:
        handle.stop()


if __name__ == "__main__":
    main()
