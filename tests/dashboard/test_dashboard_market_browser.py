"""Issue 19 items 7-12 in headless Chromium at 1440x900 and 390x844: market time axes,
exchange time, rolled-up intervals, the phone layout, the page's states, small things."""

from __future__ import annotations

import colorsys
import contextlib
import threading
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHARTS = (
    "chart-price",
    "chart-volume",
    "chart-heatmap",
    "chart-compare",
    "chart-rsi",
    "chart-macd",
)


def wait_refreshes(page, n: int) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"Number(document.body.dataset.refreshes || 0) >= {n}", timeout=30_000)


def refreshes(page) -> int:  # type: ignore[no-untyped-def]
    return int(page.evaluate("Number(document.body.dataset.refreshes || 0)"))


def open_dashboard(page, url: str, query: str = ""):  # type: ignore[no-untyped-def]
    page.goto(url + ("?" + query if query else ""))
    wait_refreshes(page, 1)
    return page


def url_filters(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    query = parse_qs(urlparse(page.url).query, keep_blank_values=True)
    return {k: v[0] for k, v in query.items()}


def x_positions(page, chart: str, labels: list[str]) -> list[float]:  # type: ignore[no-untyped-def]
    """Pixel x of category labels on a chart's x axis, as Plotly placed them."""
    return page.evaluate(
        """([id, labels]) => { const ax = document.getElementById(id)._fullLayout.xaxis;
            return labels.map((l) => ax.d2p(l)); }""",
        [chart, labels],
    )


@pytest.fixture(scope="module")
def week_dashboard(week_lake):  # type: ignore[no-untyped-def]
    from stockpipe.dashboard import start_dashboard

    handle = start_dashboard(week_lake.settings, "127.0.0.1", 0, 5)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def dashboard(shared_lake):  # type: ignore[no-untyped-def]
    from stockpipe.dashboard import start_dashboard

    handle = start_dashboard(shared_lake.settings, "127.0.0.1", 0, 5)
    yield handle
    handle.stop()


# ---- 7: nights and weekends ---------------------------------------------------------------


def test_nights_weekends_and_holidays_take_no_room(desktop, week_dashboard) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(desktop, week_dashboard.url, "symbols=AAPL,MSFT,NVDA&window=5d&interval=5m")
    for chart in ("chart-price", "chart-compare", "chart-rsi", "chart-macd"):
        # Fri Jan 2 15:55 ET, then (weekend) Mon Jan 5 09:30 and 09:35: equal steps.
        a, b, c = x_positions(desktop, chart, ["01-02 15:55", "01-05 09:30", "01-05 09:35"])
        assert b - a == pytest.approx(c - b, abs=0.01), chart
        assert c > b > a
        # Wed Dec 31 15:55, then (New Year holiday) Fri Jan 2 09:30.
        d, e = x_positions(desktop, chart, ["12-31 15:55", "01-02 09:30"])
        assert e - d == pytest.approx(c - b, abs=0.01), chart
    # One dotted line between each two of the 5 sessions.
    lines = desktop.evaluate(
        "document.getElementById('chart-price').layout.shapes.filter(s => s.line.dash === 'dot')"
    )
    assert len(lines) == 4
    for chart in ("chart-heatmap", "chart-volume"):
        # Hourly buckets: Fri 15:00, Mon 09:00, Mon 10:00 sit side by side, one cell each.
        a, b, c = x_positions(desktop, chart, ["01-02 15:00", "01-05 09:00", "01-05 10:00"])
        assert b - a == pytest.approx(c - b, abs=0.01), chart
        assert c > b > a
    heat = desktop.evaluate("document.getElementById('chart-heatmap').data[0].x")
    assert len(heat) == 35  # 7 hourly buckets (09:00-15:00) x 5 sessions, none for nights
    assert desktop.js_errors == []


# ---- 8: time zone -------------------------------------------------------------------------


def axis_titles(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        c: page.evaluate(f"document.getElementById('{c}')._fullLayout.xaxis.title.text")
        for c in CHARTS
    }


def test_exchange_time_by_default_and_a_utc_toggle(desktop, dashboard) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(desktop, dashboard.url, "symbols=AAPL,MSFT")
    assert set(axis_titles(desktop).values()) == {"Time (ET)"}
    x = desktop.evaluate("document.getElementById('chart-price').data[0].x")
    # The session's first bar is 14:30 UTC, 09:30 in New York (EST in January).
    assert (x[0], x[-1]) == ("09:30", "11:29")
    kpi = ".kpi[data-symbol='AAPL'] [data-field='last_ts']"
    assert desktop.inner_text(kpi) == "01-06 11:29 ET"
    assert desktop.inner_text("#health-last-bar .value") == "2026-01-06 11:29:00 ET"
    assert desktop.inner_text("#window-label").startswith("· 01-06 00:00 ET → 01-06 11:29 ET")
    assert " ET" in desktop.inner_text("#status")

    desktop.select_option("#tz", "utc")
    desktop.wait_for_function(
        "document.getElementById('chart-price').data[0].x[0] === '14:30'", timeout=10_000
    )
    assert set(axis_titles(desktop).values()) == {"Time (UTC)"}
    assert desktop.inner_text(kpi) == "01-06 16:29 UTC"
    assert desktop.inner_text("#health-last-bar .value") == "2026-01-06 16:29:00 UTC"
    assert url_filters(desktop)["tz"] == "utc"
    desktop.reload()
    wait_refreshes(desktop, 1)
    assert desktop.input_value("#tz") == "utc"
    assert desktop.inner_text(kpi) == "01-06 16:29 UTC"
    assert desktop.js_errors == []


def test_custom_range_is_typed_in_the_zone_shown(desktop, dashboard) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(desktop, dashboard.url, "symbols=AAPL&tz=utc")
    desktop.select_option("#window", "custom")
    assert desktop.text_content("label[for='from']") == "From (UTC)"
    desktop.fill("#from", "2026-01-05T15:00")
    desktop.fill("#to", "2026-01-05T15:29")
    desktop.click("#apply-custom")
    desktop.wait_for_function("document.getElementById('chart-price').data[0].x.length === 30")
    f = url_filters(desktop)
    assert (f["from"], f["to"]) == ("2026-01-05T15:00:00Z", "2026-01-05T15:29:00Z")


# ---- 9: intervals -------------------------------------------------------------------------


def test_intervals_are_offered_rolled_up_and_chosen_per_window(desktop, week_dashboard) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(desktop, week_dashboard.url, "symbols=AAPL&window=5d")
    options = desktop.eval_on_selector_all(
        "#interval option", "os => os.map(o => [o.value, o.textContent])"
    )
    assert options == [
        ["", "Auto (5m)"],
        ["1m", "1m"],
        ["5m", "5m"],
        ["15m", "15m"],
        ["1h", "1h"],
        ["1d", "1d"],
    ]
    price = "document.getElementById('chart-price').data[0].x"
    assert len(desktop.evaluate(price)) == 5 * 78  # 5 sessions of 5-minute bars
    assert "5 sessions · 5 min bars" in desktop.inner_text("#window-label")
    desktop.select_option("#interval", "1d")
    desktop.wait_for_function(f"{price}.length === 5")
    assert desktop.evaluate(price) == [
        "2025-12-30",
        "2025-12-31",
        "2026-01-02",
        "2026-01-05",
        "2026-01-06",
    ]
    assert desktop.evaluate(
        "document.getElementById('chart-price')._fullLayout.xaxis.title.text"
    ) == ("Session date")
    desktop.select_option("#interval", "15m")
    desktop.wait_for_function(f"{price}.length === 5 * 26")
    assert url_filters(desktop)["interval"] == "15m"
    # Auto again: the window picks its interval (1 month of sessions: hourly bars).
    desktop.select_option("#interval", "")
    desktop.select_option("#window", "1m")
    desktop.wait_for_function(f"{price}.length === 7 * 7 + 4")  # Dec 24 closes at 13:00
    assert "interval" not in url_filters(desktop)
    assert desktop.js_errors == []


# ---- 10: phone layout ---------------------------------------------------------------------


def boxes(page) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    return page.evaluate(
        """(ids) => Object.fromEntries(ids.map((id) => {
            const r = document.getElementById(id).getBoundingClientRect();
            return [id, {left: r.left, top: r.top, width: r.width, bottom: r.bottom}]; }))""",
        list(CHARTS),
    )


def test_phone_gets_one_column_and_no_toolbar(phone, week_dashboard) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(phone, week_dashboard.url, "symbols=AAPL,MSFT,NVDA&window=5d")
    b = boxes(phone)
    for chart, box in b.items():
        assert box["width"] >= 300, chart
        assert box["left"] >= 0 and box["left"] + box["width"] <= 390, chart
    # Former two-chart rows are stacked.
    assert b["chart-compare"]["top"] >= b["chart-volume"]["bottom"]
    assert b["chart-macd"]["top"] >= b["chart-rsi"]["bottom"]
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    # No Plotly toolbar over the legends on a touch screen.
    assert phone.locator(".modebar-btn").count() == 0
    for chart in CHARTS:
        assert int(phone.get_attribute(f"#{chart}", "data-points")) > 0, chart
    assert phone.js_errors == []


def test_desktop_keeps_two_columns_and_the_toolbar(desktop, week_dashboard) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(desktop, week_dashboard.url, "symbols=AAPL,MSFT,NVDA&window=5d")
    b = boxes(desktop)
    assert b["chart-compare"]["top"] == pytest.approx(b["chart-volume"]["top"], abs=2)
    assert b["chart-compare"]["left"] > b["chart-volume"]["left"] + b["chart-volume"]["width"]
    assert desktop.locator("#chart-price .modebar-btn").count() > 0


# ---- 11: states ---------------------------------------------------------------------------


def test_stale_after_two_refreshes_without_new_data(desktop, fixture_lake, serve_dashboard) -> None:  # type: ignore[no-untyped-def]
    handle = serve_dashboard(fixture_lake.settings, refresh=1)
    open_dashboard(desktop, handle.url)
    status = desktop.locator("#status")
    assert status.get_attribute("class") == "status live"
    assert status.inner_text().startswith("live · updated")
    wait_refreshes(desktop, 3)  # the first one saw the bar, two more saw nothing new
    assert status.get_attribute("class") == "status stale"
    text = status.inner_text()
    assert text.startswith("stale since ") and text.endswith(" · last bar 01-06 11:29 ET")
    assert status.evaluate("n => getComputedStyle(n).color") == "rgb(240, 180, 41)"
    fixture_lake.append_bar("AAPL", close=250.0)
    desktop.wait_for_function(
        "document.getElementById('status').className === 'status live'", timeout=20_000
    )
    assert desktop.js_errors == []


def checked(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all("#symbols input:checked", "els => els.map(e => e.value)")


def test_every_symbol_can_be_unticked_and_all_none_buttons(  # type: ignore[no-untyped-def]
    desktop, shared_lake, serve_dashboard
) -> None:
    handle = serve_dashboard(shared_lake.settings, refresh=1)
    open_dashboard(desktop, handle.url, "symbols=AAPL,MSFT")
    desktop.locator("#symbols input[value='AAPL']").uncheck()
    desktop.locator("#symbols input[value='MSFT']").uncheck()
    desktop.wait_for_function("!document.getElementById('banner').classList.contains('hidden')")
    before = refreshes(desktop)
    wait_refreshes(desktop, before + 2)  # the defaults do not come back on their own
    assert checked(desktop) == []
    assert url_filters(desktop)["symbols"] == ""
    assert desktop.inner_text("#banner").startswith("No symbols selected")
    assert not desktop.locator("#panels").is_visible()

    desktop.click("#symbols-all")
    desktop.wait_for_function("(document.getElementById('chart-compare').data || []).length === 3")
    assert checked(desktop) == ["AAPL", "MSFT", "NVDA"]
    assert url_filters(desktop)["symbols"] == "AAPL,MSFT,NVDA"
    desktop.click("#symbols-none")
    desktop.wait_for_function("!document.getElementById('banner').classList.contains('hidden')")
    assert checked(desktop) == [] and url_filters(desktop)["symbols"] == ""
    assert desktop.js_errors == []


def test_an_interval_not_in_the_lake_shows_a_hint(desktop, daily_lake, serve_dashboard) -> None:  # type: ignore[no-untyped-def]
    handle = serve_dashboard(daily_lake.settings)
    open_dashboard(desktop, handle.url, "interval=5m")
    assert desktop.inner_text("#banner").startswith("No 5m bars: the lake holds 1day bars")
    assert not desktop.locator("#panels").is_visible()
    options = desktop.eval_on_selector_all("#interval option", "os => os.map(o => o.textContent)")
    assert options == ["Auto", "1d", "5m (not in the lake)"]
    desktop.select_option("#interval", "1d")
    desktop.wait_for_function("document.getElementById('banner').classList.contains('hidden')")
    assert desktop.evaluate("document.getElementById('chart-price').data[0].x") == ["2026-01-09"]


def test_a_loading_indicator_follows_a_filter_change(desktop, shared_lake, serve_dashboard) -> None:  # type: ignore[no-untyped-def]
    from stockpipe.dashboard.panels import sql_runner

    run = sql_runner(shared_lake.settings)
    hold, release = threading.Event(), threading.Event()

    def gated(name, params):  # type: ignore[no-untyped-def]
        # While `hold` is set, queries wait: the page is mid-load for as long as we look.
        if hold.is_set():
            release.wait(20)
        return run(name, params)

    handle = serve_dashboard(shared_lake.settings, refresh=60, runner=gated)
    open_dashboard(desktop, handle.url, "symbols=AAPL")
    assert not desktop.locator("#loading").is_visible()
    hold.set()
    try:
        desktop.select_option("#window", "1h")
        desktop.wait_for_selector("#loading", state="visible", timeout=5_000)
        assert desktop.inner_text("#loading") == "Loading…"
        assert "loading" in desktop.evaluate("document.body.className")
    finally:
        hold.clear()
        release.set()
    desktop.wait_for_selector("#loading", state="hidden", timeout=20_000)
    assert desktop.evaluate("document.getElementById('chart-price').data[0].x.length") == 61


# ---- 12: small things ---------------------------------------------------------------------


def test_kpi_last_bar_stays_on_one_line_at_1440(desktop, week_dashboard) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(desktop, week_dashboard.url, "symbols=AAPL,MSFT,NVDA")
    spans = desktop.eval_on_selector_all(
        ".kpi [data-field='last_ts']",
        """els => els.map(e => { const card = e.closest('.kpi').getBoundingClientRect();
            const r = e.getBoundingClientRect();
            return {lines: e.getClientRects().length, inside: r.right <= card.right,
                    text: e.textContent}; })""",
    )
    assert len(spans) == 3
    for span in spans:
        assert span == {"lines": 1, "inside": True, "text": "01-06 15:59 ET"}


def hue(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 360 * colorsys.rgb_to_hls(r, g, b)[0]


def test_sma20_and_vwap_are_clearly_distinct(desktop, dashboard) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(desktop, dashboard.url, "symbols=AAPL&overlays=sma20,vwap")
    lines = desktop.evaluate(
        """Object.fromEntries(document.getElementById('chart-price').data
            .map(t => [t.name, t.line]))"""
    )
    sma, vwap = lines["SMA 20"], lines["VWAP"]
    gap = abs(hue(sma["color"]) - hue(vwap["color"]))
    assert min(gap, 360 - gap) >= 60  # orange vs yellow was 18 degrees
    assert sma["dash"] != vwap["dash"]


def test_heatmap_rows_follow_the_selection_with_values_in_cells(desktop, dashboard) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(desktop, dashboard.url, "symbols=NVDA,AAPL,MSFT")
    # The pushed snapshot may redraw the heatmap right after the first refresh (Plotly.react
    # settles asynchronously, slowly on a loaded machine): let the axis settle, then read it.
    with contextlib.suppress(PlaywrightTimeout):
        desktop.wait_for_function(
            """() => [...document.querySelectorAll('#chart-heatmap .ytick text')]
                .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
                .map(e => e.textContent).join() === 'NVDA,AAPL,MSFT'""",
            timeout=30_000,
        )
    rows = desktop.eval_on_selector_all(
        "#chart-heatmap .ytick text",
        "els => els.map(e => [e.textContent, e.getBoundingClientRect().top])",
    )
    assert [name for name, _ in sorted(rows, key=lambda r: r[1])] == ["NVDA", "AAPL", "MSFT"]
    heat = desktop.evaluate("document.getElementById('chart-heatmap').data[0]")
    cells = desktop.eval_on_selector_all(
        "#chart-heatmap .heatmap-label text",
        "els => els.map(e => e.textContent.replace('\u2212', '-'))",  # d3 writes a real minus
    )
    values = [v for row in heat["z"] for v in row if v is not None]
    assert len(cells) == len(values) == 3 * len(heat["x"])
    # Row by row, two decimals (d3 drops the sign of a value that rounds to zero).
    assert cells == [f"{v:.2f}".replace("-0.00", "0.00") for v in values]


def bar_heights(page) -> list[float]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(
        "#chart-volume .point path", "els => els.map(e => e.getBBox().height)"
    )


def test_volume_log_scale_keeps_small_symbols_readable(desktop, week_dashboard) -> None:  # type: ignore[no-untyped-def]
    # NVDA trades 50x the volume of AAPL and MSFT in the week lake.
    open_dashboard(desktop, week_dashboard.url, "symbols=AAPL,MSFT,NVDA")
    linear = bar_heights(desktop)
    assert min(linear) / max(linear) < 0.05  # AAPL and MSFT are flattened
    desktop.check("#vlog")
    desktop.wait_for_function(
        "document.getElementById('chart-volume')._fullLayout.yaxis.type === 'log'"
    )
    log = bar_heights(desktop)
    assert len(log) == len(linear)
    assert min(log) / max(log) > 0.3
    assert url_filters(desktop)["vlog"] == "1"
    assert desktop.evaluate(
        "document.getElementById('chart-volume')._fullLayout.yaxis.title.text"
    ) == ("Volume (log)")
