"""Issue 21 item 9 in headless Chromium: a bar written while the page is open is drawn
without a reload, pushed; with the push channel down the page polls and says so.

The servers refresh every 60 s in the push test, so a bar drawn within seconds was pushed.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.browser]

QUERY = "symbols=NVDA,AAPL&window=1d&interval=1m&focus=AAPL"
CARD = ".kpi[data-symbol='AAPL'] [data-field='last_price']"


def wait_channel(page, channel: str, timeout: int = 15_000) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"document.body.dataset.channel === '{channel}'", timeout=timeout)


def test_a_new_bar_is_drawn_without_reload(page, fixture_lake, serve_dashboard) -> None:  # type: ignore[no-untyped-def]
    handle = serve_dashboard(fixture_lake.settings, refresh=60)
    page.goto(handle.url + "?" + QUERY)
    wait_channel(page, "push")
    page.wait_for_function("document.getElementById('chart-price').data[0].x.length === 120")
    status = page.locator("#status").inner_text()
    assert status.startswith("live · updated") and status.endswith(" · push")
    # A mark that a reload would wipe, and the count of /api/view fetches so far.
    page.evaluate("window.__sameDocument = true")
    views = []
    page.on("request", lambda r: views.append(r.url) if "/api/view" in r.url else None)
    page.evaluate("window.scrollTo(0, 500)")

    fixture_lake.append_bar("AAPL", close=999.25, volume=777)
    page.wait_for_function(
        f"document.querySelector(\"{CARD}\").dataset.value === '999.25'", timeout=10_000
    )
    price = page.evaluate("document.getElementById('chart-price').data[0]")
    assert len(price["x"]) == 121 and price["y"][-1] == 999.25
    assert price["x"][-1] == "11:30"  # 16:30 UTC in exchange time
    compare = page.evaluate("document.getElementById('chart-compare').data")
    assert [t["name"] for t in compare] == ["NVDA", "AAPL"]
    assert len(compare[1]["x"]) == 121 and len(compare[0]["x"]) == 120
    assert page.evaluate("window.__sameDocument") is True
    assert page.evaluate("document.body.dataset.drawnVia") == "push"
    assert views == []  # drawn from the pushed event, no view was fetched
    assert page.evaluate("window.scrollY") == 500
    assert page.js_errors == []


def test_without_the_push_channel_the_page_polls_and_says_so(  # type: ignore[no-untyped-def]
    page, fixture_lake, serve_dashboard
) -> None:
    handle = serve_dashboard(fixture_lake.settings, refresh=1)
    page.route("**/api/stream*", lambda route: route.abort())
    page.goto(handle.url + "?" + QUERY)
    wait_channel(page, "polling")
    page.wait_for_function("document.getElementById('chart-price').data[0].x.length === 120")
    assert "polling every 1 s (push reconnecting)" in page.locator("#status").inner_text()

    fixture_lake.append_bar("AAPL", close=555.5)
    page.wait_for_function(
        f"document.querySelector(\"{CARD}\").dataset.value === '555.5'", timeout=15_000
    )
    assert page.evaluate("document.body.dataset.drawnVia") == "poll"

    # The channel comes back: EventSource reconnects and the page is pushed to again.
    page.unroute("**/api/stream*")
    wait_channel(page, "push", timeout=20_000)
    assert page.locator("#status").inner_text().endswith(" · push")
    fixture_lake.append_bar("AAPL", close=444.75)
    page.wait_for_function(
        f"document.querySelector(\"{CARD}\").dataset.value === '444.75'", timeout=10_000
    )
    assert page.js_errors == []


CHARTS = tuple(f"chart-{n}" for n in ("price", "volume", "heatmap", "compare", "rsi", "macd"))
COUNT_REDRAWS = """(ids) => {
  window.__redraws = {};
  window.__drawn = 0;
  document.addEventListener("stockpipe:drawn", () => { window.__drawn += 1; });
  for (const id of ids) {
    window.__redraws[id] = 0;
    document.getElementById(id).on("plotly_afterplot", () => { window.__redraws[id] += 1; });
  }
}"""


def test_a_push_redraws_only_the_charts_whose_data_changed(  # type: ignore[no-untyped-def]
    page, fixture_lake, serve_dashboard
) -> None:
    handle = serve_dashboard(fixture_lake.settings, refresh=60)
    page.goto(handle.url + "?" + QUERY)
    wait_channel(page, "push")
    page.wait_for_function("document.getElementById('chart-price').data[0].x.length === 120")
    page.evaluate(COUNT_REDRAWS, list(CHARTS))

    # MSFT is not shown: the pushed view differs only in its catalog, so no chart changes.
    fixture_lake.append_bar("MSFT", close=481.5)
    page.wait_for_function("window.__drawn >= 1", timeout=10_000)
    assert page.evaluate("document.body.dataset.drawnVia") == "push"
    assert page.evaluate("window.__redraws") == dict.fromkeys(CHARTS, 0)

    # A bar of the focus symbol changes every chart.
    fixture_lake.append_bar("AAPL", close=999.25, volume=777)
    page.wait_for_function(
        f"document.querySelector(\"{CARD}\").dataset.value === '999.25'", timeout=10_000
    )
    redraws = page.evaluate("window.__redraws")
    assert all(n >= 1 for n in redraws.values()), redraws
    assert page.evaluate("document.getElementById('chart-price').data[0].y.at(-1)") == 999.25
    assert page.js_errors == []
