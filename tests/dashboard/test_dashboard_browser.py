"""End-to-end: headless Chromium drives the dashboard served on 127.0.0.1."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from stockpipe.sql import run_named_query

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHARTS = (
    "chart-price",
    "chart-volume",
    "chart-heatmap",
    "chart-compare",
    "chart-rsi",
    "chart-macd",
)
KPI_FIELDS = ("last_price", "change", "change_pct", "session_high", "session_low", "volume", "vwap")


def wait_refreshes(page, n: int) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"Number(document.body.dataset.refreshes || 0) >= {n}", timeout=30_000)


def refreshes(page) -> int:  # type: ignore[no-untyped-def]
    return int(page.evaluate("Number(document.body.dataset.refreshes || 0)"))


def open_dashboard(page, url: str, query: str = ""):  # type: ignore[no-untyped-def]
    page.goto(url + ("?" + query if query else ""))
    wait_refreshes(page, 1)
    return page


def traces(page, chart: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return page.evaluate(
        f"""() => (document.getElementById('{chart}').data || []).map(t => ({{
            type: t.type, name: t.name || null, n: (t.x || t.z || []).length }}))"""
    )


def url_filters(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


@pytest.fixture(scope="module")
def dashboard(shared_lake):  # type: ignore[no-untyped-def]
    from stockpipe.dashboard import start_dashboard

    handle = start_dashboard(shared_lake.settings, "127.0.0.1", 0, 5)
    yield handle
    handle.stop()


def test_every_chart_renders_with_data(page, dashboard) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(page, dashboard.url)
    for chart in CHARTS:
        assert page.locator(f"#{chart} .main-svg").count() >= 1, chart
        assert int(page.get_attribute(f"#{chart}", "data-points")) > 0, chart
    # Line + SMA 20 + VWAP by default, for the latest session's 120 bars.
    assert traces(page, "chart-price") == [
        {"type": "scatter", "name": "AAPL close", "n": 120},
        {"type": "scatter", "name": "SMA 20", "n": 120},
        {"type": "scatter", "name": "VWAP", "n": 120},
    ]
    assert [t["name"] for t in traces(page, "chart-compare")] == ["AAPL", "MSFT", "NVDA"]
    assert [t["type"] for t in traces(page, "chart-volume")] == ["bar"] * 3
    heat = page.evaluate("document.getElementById('chart-heatmap').data[0]")
    assert heat["type"] == "heatmap" and heat["zmid"] == 0 and heat["y"] == ["AAPL", "MSFT", "NVDA"]
    assert [t["name"] for t in traces(page, "chart-macd")] == ["Histogram", "MACD", "Signal"]
    rsi_bands = page.evaluate(
        "document.getElementById('chart-rsi').layout.shapes.filter(s => s.type === 'line').map(s => s.y0)"
    )
    assert sorted(rsi_bands) == [30, 70]
    # Exchange time by default: 16:29 UTC is 11:29 in New York in January (EST, UTC-5).
    assert page.locator("#health-last-bar").inner_text().endswith("2026-01-06 11:29:00 ET")
    assert page.js_errors == []


def test_kpi_values_equal_the_sql_layer(page, dashboard, shared_lake) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(page, dashboard.url, "symbols=NVDA,AAPL")
    rows = run_named_query(
        "dashboard_kpis",
        {
            "symbols": "NVDA,AAPL",
            "interval": "1min",
            "to_ts": "2026-01-06T16:29:00Z",
            "to_dt": "2026-01-07",
        },
        settings=shared_lake.settings,
    ).to_dicts()
    assert len(rows) == 2
    for row in rows:
        card = page.locator(f".kpi[data-symbol='{row['symbol']}']")
        for field in KPI_FIELDS:
            shown = card.locator(f"[data-field='{field}']").get_attribute("data-value")
            assert float(shown) == pytest.approx(float(row[field]), rel=1e-12), field
        delta = card.locator(".delta")
        assert ("up" if row["change"] > 0 else "down") in delta.get_attribute("class")


def test_changing_filters_changes_the_charts_and_the_url(page, dashboard) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(page, dashboard.url)
    before = refreshes(page)
    page.locator("#symbols input[value='MSFT']").uncheck()
    page.wait_for_function("document.getElementById('chart-compare').data.length === 2")
    assert url_filters(page)["symbols"] == "AAPL,NVDA"
    assert page.locator(".kpi").count() == 2

    page.select_option("#window", "1h")
    page.wait_for_function(f"Number(document.body.dataset.refreshes) > {before + 1}")
    page.wait_for_function("document.getElementById('chart-price').data[0].x.length === 61")
    assert url_filters(page)["window"] == "1h"

    page.select_option("#chart", "candles")
    page.locator("#overlays input[value='bb']").check()
    page.locator("#overlays input[value='vwap']").uncheck()
    names = [t["name"] for t in traces(page, "chart-price")]
    assert traces(page, "chart-price")[0]["type"] == "candlestick"
    assert names[1:] == ["BB upper", "BB lower", "BB middle", "SMA 20"]
    page.select_option("#focus", "NVDA")
    assert traces(page, "chart-price")[0]["name"] == "NVDA"

    # The filters are the URL: a reload (or a shared link) shows the same view.
    shared = page.url
    page.reload()
    wait_refreshes(page, 1)
    assert page.url == shared
    assert page.locator("#symbols input:checked").evaluate_all("els => els.map(e => e.value)") == [
        "AAPL",
        "NVDA",
    ]
    assert page.input_value("#window") == "1h" and page.input_value("#chart") == "candles"
    assert traces(page, "chart-price")[0] == {"type": "candlestick", "name": "NVDA", "n": 61}


def test_custom_range(page, dashboard) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(page, dashboard.url, "symbols=AAPL")
    page.select_option("#window", "custom")
    # Typed in exchange time (the default zone): 10:00-10:59 ET is 15:00-15:59 UTC.
    page.fill("#from", "2026-01-05T10:00")
    page.fill("#to", "2026-01-05T10:59")
    page.click("#apply-custom")
    page.wait_for_function("document.getElementById('chart-price').data[0].x.length === 60")
    f = url_filters(page)
    assert (f["window"], f["from"], f["to"]) == (
        "custom",
        "2026-01-05T15:00:00Z",
        "2026-01-05T15:59:00Z",
    )
    # KPIs are as of the end of the window: the 15:59 bar of the first session.
    assert page.get_attribute(".kpi[data-symbol='AAPL'] [data-field='last_ts']", "data-value") == (
        "2026-01-05T15:59:00Z"
    )


def test_new_bar_appears_after_refresh_and_filters_stay(  # type: ignore[no-untyped-def]
    page, fixture_lake, serve_dashboard
) -> None:
    handle = serve_dashboard(fixture_lake.settings, refresh=1)
    query = "symbols=NVDA,AAPL&window=1h&interval=1min&focus=NVDA&chart=candles&overlays=ema12,bb"
    open_dashboard(page, handle.url, query)
    url_before = page.url
    page.evaluate("window.scrollTo(0, 700)")
    scroll_before = page.evaluate("window.scrollY")
    card = ".kpi[data-symbol='AAPL'] [data-field='last_price']"
    assert float(page.get_attribute(card, "data-value")) != 999.25

    fixture_lake.append_bar("AAPL", close=999.25, volume=777)
    page.wait_for_function(
        f"document.querySelector(\"{card}\").dataset.value === '999.25'", timeout=20_000
    )
    assert page.get_attribute(".kpi[data-symbol='AAPL'] [data-field='last_ts']", "data-value") == (
        "2026-01-06T16:30:00Z"
    )
    compare = page.evaluate("document.getElementById('chart-compare').data")
    assert [t["name"] for t in compare] == ["NVDA", "AAPL"]
    # Category labels in exchange time; a window under a day needs no date.
    assert compare[1]["x"][-1] == "11:30"
    assert compare[0]["x"][-1] == "11:29"
    assert page.url == url_before
    assert page.input_value("#window") == "1h" and page.input_value("#focus") == "NVDA"
    assert page.evaluate("window.scrollY") == scroll_before
    assert page.js_errors == []


@pytest.mark.parametrize(
    "symbols",
    ["x' OR 1=1 --", "<img src=x onerror=window.__pwned=1>"],
    ids=["sql", "html"],
)
def test_hostile_filter_value_is_handled_safely(page, dashboard, symbols: str) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import quote

    open_dashboard(page, dashboard.url, "symbols=" + quote(symbols))
    banner = page.locator("#banner")
    assert banner.is_visible()
    text = banner.inner_text()
    assert "Invalid filter" in text and "is not a valid ticker" in text and symbols in text
    assert "Traceback" not in page.content()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#reset-filters").count() == 1
    resp = httpx.get(dashboard.url + "api/view", params={"symbols": symbols}, timeout=30)
    assert resp.status_code == 400
    # The reset link brings back a working view over untouched data.
    page.click("#reset-filters")
    wait_refreshes(page, 1)
    assert int(page.get_attribute("#chart-price", "data-points")) > 0


def test_empty_lake_shows_a_clear_message(page, tmp_path, serve_dashboard) -> None:  # type: ignore[no-untyped-def]
    from stockpipe.config import load_settings

    settings = load_settings({"lake": str(tmp_path / "lake"), "home": str(tmp_path)}).settings
    handle = serve_dashboard(settings)
    open_dashboard(page, handle.url)
    assert "No bars in the lake yet" in page.locator("#banner").inner_text()
    assert not page.locator("#panels").is_visible()
    assert "n/a" in page.locator("#health").inner_text()
    assert page.js_errors == []
