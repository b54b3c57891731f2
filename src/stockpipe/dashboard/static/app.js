// stockpipe dashboard: filters live in the URL, data comes from /api/view and /api/health,
// and every refresh calls Plotly.react so zoom, filters and scroll position survive.
"use strict";

const REFRESH_MS = Math.max(1000, 1000 * Number(document.body.dataset.refresh || 5));
const OVERLAYS = {
  sma20: { field: "sma_20", name: "SMA 20", color: "#f5a623" },
  sma50: { field: "sma_50", name: "SMA 50", color: "#bd10e0" },
  ema12: { field: "ema_12", name: "EMA 12", color: "#50e3c2" },
  ema26: { field: "ema_26", name: "EMA 26", color: "#b8e986" },
  vwap: { field: "vwap", name: "VWAP", color: "#f8e71c" },
};
const PALETTE = ["#4c9aff", "#f5a623", "#50e3c2", "#e5534b", "#bd10e0", "#b8e986", "#f8e71c", "#9b9b9b"];
const DIVERGING = [[0, "#c0392b"], [0.5, "#f2f2f2"], [1, "#1e8449"]];
const PLOT_CONFIG = { displaylogo: false, responsive: true };

const $ = (id) => document.getElementById(id);
const state = { filters: readUrl(), timer: null, inFlight: false, lastView: null };

// ---- URL state -------------------------------------------------------------------------

function readUrl() {
  const q = new URLSearchParams(location.search);
  const list = (v) => (v ? v.split(",").filter(Boolean) : []);
  return {
    symbols: list(q.get("symbols")),
    window: q.get("window") || "1d",
    from: q.get("from") || "",
    to: q.get("to") || "",
    interval: q.get("interval") || "",
    focus: q.get("focus") || "",
    chart: q.get("chart") === "candles" ? "candles" : "line",
    overlays: q.has("overlays") ? list(q.get("overlays")) : ["sma20", "vwap"],
  };
}

function writeUrl() {
  const f = state.filters;
  const q = new URLSearchParams();
  if (f.symbols.length) q.set("symbols", f.symbols.join(","));
  q.set("window", f.window);
  if (f.window === "custom") { q.set("from", f.from); q.set("to", f.to); }
  if (f.interval) q.set("interval", f.interval);
  if (f.focus) q.set("focus", f.focus);
  q.set("chart", f.chart);
  q.set("overlays", f.overlays.join(","));
  history.replaceState(null, "", "?" + q.toString());
}

function apiQuery() {
  // Only the filters that change the data go to the server; the rest is presentation.
  const f = state.filters;
  const q = new URLSearchParams();
  if (f.symbols.length) q.set("symbols", f.symbols.join(","));
  q.set("window", f.window);
  if (f.window === "custom") { q.set("from", f.from); q.set("to", f.to); }
  if (f.interval) q.set("interval", f.interval);
  return q.toString();
}

// ---- formatting ------------------------------------------------------------------------

const plotTime = (iso) => iso.replace("T", " ").replace("Z", "");
function fmt(value, digits = 2) {
  if (value === null || value === undefined) return "n/a";
  return Number(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
const fmtInt = (v) => (v === null || v === undefined ? "n/a" : Math.round(v).toLocaleString("en-US"));
const fmtSigned = (v, digits = 2, suffix = "") =>
  v === null || v === undefined ? "n/a" : (v > 0 ? "+" : "") + fmt(v, digits) + suffix;
const fmtTime = (iso) => (iso ? iso.replace("T", " ").replace("Z", " UTC") : "n/a");

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;  // textContent: data is never parsed as HTML
  return node;
}

// ---- banner ----------------------------------------------------------------------------

function banner(kind, message, withReset) {
  const b = $("banner");
  b.className = "banner " + kind;
  b.textContent = message;
  if (withReset) {
    b.append(" ");
    b.append(el("a", { href: location.pathname, id: "reset-filters" }, "Reset filters"));
  }
}
function clearBanner() { $("banner").className = "banner hidden"; $("banner").textContent = ""; }

// ---- filter controls -------------------------------------------------------------------

function syncControls(view) {
  const f = state.filters;
  const catalog = view ? view.catalog : [];
  const interval = f.interval;
  const available = [...new Set(catalog.filter((r) => !interval || r.interval === interval).map((r) => r.symbol))];
  const symbols = [...new Set([...available, ...f.symbols])].sort();
  const box = $("symbols");
  const existing = [...box.querySelectorAll("input")].map((i) => i.value).join(",");
  if (existing !== symbols.join(",")) {
    box.replaceChildren(...symbols.map((s) => {
      const label = el("label");
      const input = el("input", { type: "checkbox", value: s });
      input.addEventListener("change", onSymbolsChange);
      label.append(input, s);
      return label;
    }));
  }
  for (const input of box.querySelectorAll("input")) input.checked = f.symbols.includes(input.value);

  const intervals = [...new Set(catalog.map((r) => r.interval))];
  if (interval && !intervals.includes(interval)) intervals.push(interval);
  const sel = $("interval");
  if ([...sel.options].map((o) => o.value).join(",") !== intervals.join(",")) {
    sel.replaceChildren(...intervals.map((i) => el("option", { value: i }, i)));
  }
  sel.value = interval;

  const focus = $("focus");
  if ([...focus.options].map((o) => o.value).join(",") !== f.symbols.join(",")) {
    focus.replaceChildren(...f.symbols.map((s) => el("option", { value: s }, s)));
  }
  focus.value = f.focus;

  $("window").value = f.window;
  $("custom").classList.toggle("hidden", f.window !== "custom");
  if (f.window === "custom") {
    // Never overwrite what the user is typing: a refresh may land between two edits.
    if (!$("from").dataset.dirty) $("from").value = f.from.replace("Z", "").slice(0, 16);
    if (!$("to").dataset.dirty) $("to").value = f.to.replace("Z", "").slice(0, 16);
  }
  $("chart").value = f.chart;
  for (const input of $("overlays").querySelectorAll("input")) input.checked = f.overlays.includes(input.value);
}

function onSymbolsChange() {
  state.filters.symbols = [...$("symbols").querySelectorAll("input:checked")].map((i) => i.value);
  if (!state.filters.symbols.includes(state.filters.focus)) state.filters.focus = state.filters.symbols[0] || "";
  changed(true);
}

function changed(refetch) {
  writeUrl();
  if (refetch) refresh(); else if (state.lastView) render(state.lastView);
}

function wireControls() {
  $("window").addEventListener("change", (e) => {
    const f = state.filters;
    f.window = e.target.value;
    if (f.window === "custom") {
      // Start the custom range from the window currently shown, so Apply is one click.
      const w = state.lastView && state.lastView.window;
      f.from = f.from || (w ? w.from : "");
      f.to = f.to || (w ? w.to : "");
      syncControls(state.lastView);
      if (!f.from || !f.to) return;
    }
    changed(true);
  });
  for (const id of ["from", "to"]) {
    $(id).addEventListener("input", () => { $(id).dataset.dirty = "1"; });
  }
  $("apply-custom").addEventListener("click", () => {
    const f = state.filters;
    delete $("from").dataset.dirty;
    delete $("to").dataset.dirty;
    f.window = "custom";
    f.from = $("from").value ? $("from").value + (($("from").value.length === 16) ? ":00Z" : "Z") : "";
    f.to = $("to").value ? $("to").value + (($("to").value.length === 16) ? ":00Z" : "Z") : "";
    changed(true);
  });
  $("interval").addEventListener("change", (e) => { state.filters.interval = e.target.value; changed(true); });
  $("focus").addEventListener("change", (e) => { state.filters.focus = e.target.value; changed(false); });
  $("chart").addEventListener("change", (e) => { state.filters.chart = e.target.value; changed(false); });
  for (const input of $("overlays").querySelectorAll("input")) {
    input.addEventListener("change", () => {
      state.filters.overlays = [...$("overlays").querySelectorAll("input:checked")].map((i) => i.value);
      changed(false);
    });
  }
}

// ---- charts ----------------------------------------------------------------------------

function baseLayout(extra = {}) {
  const f = state.filters;
  return Object.assign({
    // uirevision keeps zoom and legend toggles across refreshes until the filters change.
    uirevision: [f.symbols.join(","), f.window, f.from, f.to, f.interval, f.focus].join("|"),
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: "#e6e6e6", size: 12 },
    margin: { l: 55, r: 20, t: 10, b: 40 },
    xaxis: { gridcolor: "#263340", title: { text: "UTC" } },
    yaxis: { gridcolor: "#263340" },
    legend: { orientation: "h", y: 1.12 },
    showlegend: true,
  }, extra);
}

function draw(id, traces, layout) {
  const node = $(id);
  const points = traces.reduce((n, t) => n + ((t.x || t.z || []).length || 0), 0);
  if (!points) {
    Plotly.purge(node);
    node.replaceChildren(el("div", { class: "empty-note" }, "No data for these filters."));
    node.dataset.points = "0";
    return;
  }
  if (node.querySelector(".empty-note")) node.replaceChildren();
  Plotly.react(node, traces, layout, PLOT_CONFIG);
  node.dataset.points = String(points);
}

function priceChart(view) {
  const f = state.filters;
  const s = view.series[f.focus];
  const traces = [];
  if (s) {
    const x = s.ts.map(plotTime);
    if (f.chart === "candles") {
      traces.push({ type: "candlestick", name: f.focus, x, open: s.open, high: s.high, low: s.low, close: s.close,
        increasing: { line: { color: "#26a269" } }, decreasing: { line: { color: "#e5534b" } } });
    } else {
      traces.push({ type: "scatter", mode: "lines", name: f.focus + " close", x, y: s.close, line: { color: "#4c9aff", width: 2 } });
    }
    if (f.overlays.includes("bb")) {
      const band = { type: "scatter", mode: "lines", x, line: { color: "rgba(200,200,200,0.6)", width: 1, dash: "dot" } };
      traces.push(Object.assign({ name: "BB upper", y: s.bb_upper }, band));
      traces.push(Object.assign({ name: "BB lower", y: s.bb_lower, fill: "tonexty", fillcolor: "rgba(200,200,200,0.08)" }, band));
      traces.push({ type: "scatter", mode: "lines", name: "BB middle", x, y: s.bb_middle, line: { color: "rgba(200,200,200,0.5)", width: 1 } });
    }
    for (const key of Object.keys(OVERLAYS)) {
      if (!f.overlays.includes(key)) continue;
      const o = OVERLAYS[key];
      traces.push({ type: "scatter", mode: "lines", name: o.name, x, y: s[o.field], line: { color: o.color, width: 1.3 } });
    }
  }
  draw("chart-price", traces, baseLayout({ xaxis: { gridcolor: "#263340", title: { text: "UTC" }, rangeslider: { visible: false } }, yaxis: { gridcolor: "#263340", title: { text: "Price" } } }));
}

function bucketsBySymbol(view) {
  const out = {};
  for (const b of view.buckets) (out[b.symbol] = out[b.symbol] || []).push(b);
  return out;
}

function volumeChart(view) {
  const by = bucketsBySymbol(view);
  const traces = state.filters.symbols.filter((s) => by[s]).map((s, i) => ({
    type: "bar", name: s, x: by[s].map((b) => plotTime(b.bucket)), y: by[s].map((b) => b.volume),
    marker: { color: PALETTE[i % PALETTE.length] },
  }));
  draw("chart-volume", traces, baseLayout({ barmode: "group", yaxis: { gridcolor: "#263340", title: { text: "Volume" } } }));
}

function heatmapChart(view) {
  const by = bucketsBySymbol(view);
  const symbols = state.filters.symbols.filter((s) => by[s]);
  const buckets = [...new Set(view.buckets.map((b) => b.bucket))].sort();
  const z = symbols.map((s) => {
    const m = Object.fromEntries(by[s].map((b) => [b.bucket, b.change_pct]));
    return buckets.map((k) => (k in m ? m[k] : null));
  });
  const traces = symbols.length ? [{
    type: "heatmap", x: buckets.map(plotTime), y: symbols, z, zmid: 0, colorscale: DIVERGING,
    colorbar: { title: { text: "% chg" } }, hovertemplate: "%{y} %{x}<br>%{z:.2f}%<extra></extra>", xgap: 1, ygap: 1,
  }] : [];
  draw("chart-heatmap", traces, baseLayout({ showlegend: false, yaxis: { gridcolor: "#263340", type: "category" } }));
}

function compareChart(view) {
  const traces = state.filters.symbols.filter((s) => view.series[s]).map((s, i) => ({
    type: "scatter", mode: "lines", name: s, x: view.series[s].ts.map(plotTime), y: view.series[s].norm_close,
    line: { color: PALETTE[i % PALETTE.length], width: 1.6 },
  }));
  draw("chart-compare", traces, baseLayout({
    yaxis: { gridcolor: "#263340", title: { text: "Index (start = 100)" } },
    shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 100, y1: 100, line: { color: "#8a96a3", dash: "dot", width: 1 } }],
  }));
}

function indicatorCharts(view) {
  const f = state.filters;
  const s = view.series[f.focus];
  $("indicators-symbol").textContent = f.focus ? "· " + f.focus : "";
  const x = s ? s.ts.map(plotTime) : [];
  const band = (y, color) => ({ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { color, dash: "dash", width: 1 } });
  draw("chart-rsi", s ? [{ type: "scatter", mode: "lines", name: "RSI 14", x, y: s.rsi_14, line: { color: "#f5a623" } }] : [],
    baseLayout({
      yaxis: { gridcolor: "#263340", range: [0, 100], title: { text: "RSI" } },
      shapes: [band(70, "#e5534b"), band(30, "#26a269"),
        { type: "rect", xref: "paper", x0: 0, x1: 1, y0: 30, y1: 70, fillcolor: "rgba(76,154,255,0.06)", line: { width: 0 } }],
    }));
  draw("chart-macd", s ? [
    { type: "bar", name: "Histogram", x, y: s.macd_hist, marker: { color: s.macd_hist.map((v) => (v !== null && v < 0 ? "#e5534b" : "#26a269")) } },
    { type: "scatter", mode: "lines", name: "MACD", x, y: s.macd, line: { color: "#4c9aff" } },
    { type: "scatter", mode: "lines", name: "Signal", x, y: s.macd_signal, line: { color: "#f5a623" } },
  ] : [], baseLayout({ yaxis: { gridcolor: "#263340", title: { text: "MACD" } } }));
}

// ---- KPI cards and health --------------------------------------------------------------

function kpiCards(view) {
  const byS = Object.fromEntries(view.kpis.map((k) => [k.symbol, k]));
  const cards = state.filters.symbols.map((s) => {
    const k = byS[s];
    const card = el("div", { class: "kpi", "data-symbol": s });
    card.append(el("div", { class: "sym" }, s));
    if (!k) { card.append(el("div", { class: "muted" }, "No bars for this symbol and interval.")); return card; }
    const num = (field, text, cls) => el("span", { "data-field": field, "data-value": String(k[field]), class: cls || "" }, text);
    card.append(el("div", { class: "price" }).appendChild(num("last_price", fmt(k.last_price))).parentNode);
    const dir = k.change > 0 ? "up" : k.change < 0 ? "down" : "";
    const delta = el("div", { class: "delta " + dir });
    delta.append(num("change", fmtSigned(k.change)), " (", num("change_pct", fmtSigned(k.change_pct, 2, "%")), ")");
    card.append(delta);
    const dl = el("dl");
    const row = (label, node) => { dl.append(el("dt", {}, label)); const dd = el("dd"); dd.append(node); dl.append(dd); };
    row("Session high", num("session_high", fmt(k.session_high)));
    row("Session low", num("session_low", fmt(k.session_low)));
    row("Volume", num("volume", fmtInt(k.volume)));
    row("VWAP", num("vwap", fmt(k.vwap)));
    row("Last bar", el("span", { "data-field": "last_ts", "data-value": k.last_ts }, fmtTime(k.last_ts)));
    card.append(dl);
    return card;
  });
  $("kpis").replaceChildren(...cards);
}

function renderHealth(h) {
  const box = $("health");
  const tile = (id, label, value) => {
    const t = el("div", { class: "tile", id: "health-" + id });
    t.append(el("div", { class: "label" }, label), el("div", { class: "value" }, value));
    return t;
  };
  const nodes = [
    tile("ingest-rate", "Ingest rate", h.ingest_rate === null ? "n/a" : fmt(h.ingest_rate, 1) + " rec/s"),
    tile("quarantined", "Quarantined", fmtInt(h.quarantined)),
    tile("duplicates", "Duplicates dropped", fmtInt(h.duplicates)),
    tile("last-bar", "Last bar", fmtTime(h.last_bar)),
  ];
  const table = el("table", { class: "consumers", id: "health-consumers" });
  const head = el("tr");
  for (const c of ["Consumer", "Pending records", "Lag (ms)", "Last commit"]) head.append(el("th", {}, c));
  table.append(head);
  for (const c of h.consumers) {
    const tr = el("tr", { "data-consumer": c.name });
    const ago = c.seconds_since_commit === null ? "n/a" : fmt(c.seconds_since_commit, 0) + " s ago";
    for (const v of [c.name, fmtInt(c.pending), fmtInt(c.lag_ms), ago]) tr.append(el("td", {}, v));
    table.append(tr);
  }
  if (!h.consumers.length) {
    const tr = el("tr");
    tr.append(el("td", { colspan: "4", class: "muted" }, "n/a: no consumer has committed a checkpoint yet"));
    table.append(tr);
  }
  const wrap = el("div", { style: "flex-basis:100%" });
  wrap.append(table);
  for (const e of h.errors || []) wrap.append(el("div", { class: "muted" }, e));
  box.replaceChildren(...nodes, wrap);
}

// ---- refresh loop ----------------------------------------------------------------------

function render(view) {
  const f = state.filters;
  // Adopt what the server resolved (defaults for an empty URL), so the URL is shareable.
  if (!f.symbols.length) f.symbols = view.filters.symbols;
  if (!f.interval) f.interval = view.filters.interval;
  if (!f.symbols.includes(f.focus)) f.focus = f.symbols[0] || "";
  writeUrl();
  syncControls(view);
  if (view.empty) {
    const run = state.pipeline || {};
    // While a run backfills, the lake is empty because processing has not caught up yet.
    if (run.running) banner("empty", "The pipeline is running (" + run.phase + "); bars appear here as soon as the first batch is processed.");
    else banner("empty", "No bars in the lake yet. Start the pipeline (stockpipe run) and this page fills in by itself; it refreshes every " + REFRESH_MS / 1000 + " s.");
    $("panels").classList.add("hidden");
    return;
  }
  clearBanner();
  $("panels").classList.remove("hidden");
  $("window-label").textContent = view.window ? "· " + fmtTime(view.window.from) + " → " + fmtTime(view.window.to) : "· no bars in this window";
  kpiCards(view);
  priceChart(view);
  volumeChart(view);
  heatmapChart(view);
  compareChart(view);
  indicatorCharts(view);
}

async function getJson(url) {
  let resp;
  try {
    resp = await fetch(url, { cache: "no-store" });
  } catch (err) {
    return { ok: false, status: 0, body: { error: "the dashboard server is unreachable (" + err.message + ")" } };
  }
  let body;
  try { body = await resp.json(); } catch (err) { body = { error: "HTTP " + resp.status + " with an unreadable body" }; }
  return { ok: resp.ok, status: resp.status, body };
}

async function refresh() {
  clearTimeout(state.timer);
  if (state.inFlight) { state.pending = true; return; }
  state.inFlight = true;
  const query = apiQuery();
  try {
    const [view, health] = await Promise.all([getJson("/api/view?" + query), getJson("/api/health")]);
    if (query !== apiQuery()) { state.pending = true; return; }  // filters changed meanwhile
    state.pipeline = health.ok ? health.body.pipeline : null;
    if (view.ok) {
      state.lastView = view.body;
      render(view.body);
    } else if (view.status === 400) {
      banner("error", "Invalid filter: " + view.body.error + ".", true);
      syncControls(state.lastView);
    } else {
      banner("error", "Cannot read market data: " + view.body.error + " Retrying every " + REFRESH_MS / 1000 + " s.");
    }
    if (health.ok) renderHealth(health.body);
    else $("health").replaceChildren(el("div", { class: "muted" }, "Health unavailable: " + health.body.error));
    const now = new Date().toISOString().slice(11, 19);
    const clock = state.pipeline && state.pipeline.clock !== "-" ? state.pipeline.clock + " · " : "";
    $("status").textContent = clock + (view.ok ? "live" : "degraded") + " · updated " + now + " UTC · every " + REFRESH_MS / 1000 + " s";
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  } finally {
    state.inFlight = false;
    if (state.pending) { state.pending = false; refresh(); } else state.timer = setTimeout(refresh, REFRESH_MS);
  }
}

wireControls();
syncControls(null);
refresh();
