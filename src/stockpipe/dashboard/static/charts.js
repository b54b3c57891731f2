// Charts, KPI cards and the health panel, drawn from one /api/view (and /api/health) reply.
// Time axes are category axes: one slot per bar, so nights, weekends and holidays take no
// room and no line is drawn across them; a dotted line marks each new session.
"use strict";

// Distinct hues (and VWAP dashed): SMA 20 orange and VWAP pink are 67 degrees apart.
const OVERLAYS = {
  sma20: { field: "sma_20", name: "SMA 20", color: "#f5a623" },
  sma50: { field: "sma_50", name: "SMA 50", color: "#bd10e0" },
  ema12: { field: "ema_12", name: "EMA 12", color: "#50e3c2" },
  ema26: { field: "ema_26", name: "EMA 26", color: "#b8e986" },
  vwap: { field: "vwap", name: "VWAP", color: "#ff5cad", dash: "dash" },
};
const PALETTE = ["#4c9aff", "#f5a623", "#50e3c2", "#e5534b", "#bd10e0", "#b8e986", "#f8e71c", "#9b9b9b"];
const DIVERGING = [[0, "#c0392b"], [0.5, "#f2f2f2"], [1, "#1e8449"]];
// No toolbar on touch screens: it covers the legends and a finger cannot hover it away.
const TOUCH = window.matchMedia("(hover: none), (pointer: coarse)").matches;
const PLOT_CONFIG = { displaylogo: false, responsive: true, displayModeBar: TOUCH ? false : "hover" };
const GRID = "#263340";

function fmt(value, digits = 2) {
  if (value === null || value === undefined) return "n/a";
  return Number(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
const fmtInt = (v) => (v === null || v === undefined ? "n/a" : Math.round(v).toLocaleString("en-US"));
const fmtSigned = (v, digits = 2, suffix = "") =>
  v === null || v === undefined ? "n/a" : (v > 0 ? "+" : "") + fmt(v, digits) + suffix;
const zoneName = () => zoneOf(state.filters.tz).label;
// A time with its zone, e.g. "01-06 11:29 ET" (style: see zoneLabel).
const fmtTime = (iso, style = "full") => (iso ? zoneLabel(iso, state.filters.tz, style) + " " + zoneName() : "n/a");

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;  // textContent: data is never parsed as HTML
  return node;
}

// ---- the time axis -----------------------------------------------------------------------

// Labels for every bar time of a view, in the chosen zone. Daily bars are named by their
// session date; a window shorter than a day needs no date in its labels.
function timeAxis(view) {
  const f = state.filters;
  const daily = view.filters.interval === "1d";
  const span = view.window ? Date.parse(view.window.to) - Date.parse(view.window.from) : 0;
  const style = span < 86400000 ? "time" : "short";
  const label = new Map();
  const session = new Map();
  for (const s of Object.values(view.series)) {
    s.ts.forEach((iso, i) => {
      if (!label.has(iso)) {
        label.set(iso, daily ? s.dt[i] : zoneLabel(iso, f.tz, style));
        session.set(iso, s.dt[i]);
      }
    });
  }
  const order = [...label.keys()].sort();
  const labels = order.map((iso) => label.get(iso));
  // Session boundaries, between two category slots.
  const breaks = [];
  if (!daily) {
    order.forEach((iso, i) => { if (i && session.get(iso) !== session.get(order[i - 1])) breaks.push(i - 0.5); });
  }
  return { of: (iso) => label.get(iso), labels, breaks, daily, title: daily ? "Session date" : "Time (" + zoneName() + ")" };
}

// A category axis over `axis.labels`; about one tick label per 120 px of chart `id`.
function xAxis(axis, id, extra = {}) {
  const width = document.getElementById(id).clientWidth || 600;
  return Object.assign({
    type: "category", categoryorder: "array", categoryarray: axis.labels, gridcolor: GRID,
    title: { text: axis.title }, automargin: true, nticks: Math.max(3, Math.floor(width / 120)), showgrid: false,
  }, extra);
}

function sessionLines(axis) {
  return axis.breaks.map((x) => ({ type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
    line: { color: "#3d5166", width: 1, dash: "dot" } }));
}

function baseLayout(extra = {}) {
  const f = state.filters;
  return Object.assign({
    // uirevision keeps zoom and legend toggles across refreshes until the filters change.
    uirevision: [(f.symbols || []).join(","), f.window, f.from, f.to, f.interval, f.focus, f.tz].join("|"),
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: "#e6e6e6", size: 12 },
    margin: { l: 55, r: 20, t: 10, b: 40 },
    yaxis: { gridcolor: GRID },
    // traceorder normal: a filled band would otherwise reverse the legend.
    legend: { orientation: "h", y: 1.02, yanchor: "bottom", traceorder: "normal" },
    showlegend: true,
  }, extra);
}

// What each chart was last drawn from: a pushed view usually changes a few charts only
// (a batch of symbols not shown changes none), and a redraw costs tens of ms a chart.
const drawnFrom = new Map();

function draw(id, traces, layout) {
  const node = document.getElementById(id);
  const key = JSON.stringify([traces, layout]);
  if (drawnFrom.get(id) === key && node.isConnected) return;
  drawnFrom.set(id, key);
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

// ---- charts ------------------------------------------------------------------------------

function priceChart(view, axis) {
  const f = state.filters;
  const s = view.series[f.focus];
  const traces = [];
  if (s) {
    const x = s.ts.map(axis.of);
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
      traces.push({ type: "scatter", mode: "lines", name: o.name, x, y: s[o.field], line: { color: o.color, width: 1.5, dash: o.dash || "solid" } });
    }
  }
  draw("chart-price", traces, baseLayout({
    xaxis: xAxis(axis, "chart-price", { rangeslider: { visible: false } }), shapes: sessionLines(axis),
    yaxis: { gridcolor: GRID, title: { text: "Price" } },
  }));
}

function bucketsBySymbol(view) {
  const out = {};
  for (const b of view.buckets) (out[b.symbol] = out[b.symbol] || []).push(b);
  return out;
}

// Buckets get their own axis: a day bucket is a session, named by its date.
function bucketAxis(view) {
  const f = state.filters;
  const daily = view.bucket_seconds >= 86400;
  const span = view.window ? Date.parse(view.window.to) - Date.parse(view.window.from) : 0;
  const style = span < 86400000 ? "time" : "short";
  const keys = [...new Set(view.buckets.map((b) => b.bucket))].sort();
  const label = new Map(keys.map((k) => [k, daily ? zoneDate(k, "et") : zoneLabel(k, f.tz, style)]));
  return { of: (k) => label.get(k), keys, labels: keys.map((k) => label.get(k)), breaks: [],
    title: daily ? "Session date" : "Time (" + zoneName() + ")" };
}

function volumeChart(view) {
  const by = bucketsBySymbol(view);
  const axis = bucketAxis(view);
  const symbols = (state.filters.symbols || []).filter((s) => by[s]);
  const traces = symbols.map((s, i) => ({
    type: "bar", name: s, x: by[s].map((b) => axis.of(b.bucket)), y: by[s].map((b) => b.volume),
    marker: { color: PALETTE[i % PALETTE.length] },
  }));
  const log = state.filters.vlog;
  draw("chart-volume", traces, baseLayout({
    barmode: "group", xaxis: xAxis(axis, "chart-volume"),
    // On a log axis, label the powers of ten only (1M, 10M, 100M): the rest is clutter.
    yaxis: Object.assign({ gridcolor: GRID, type: log ? "log" : "linear", title: { text: log ? "Volume (log)" : "Volume" } },
      log ? { dtick: 1 } : {}),
  }));
}

function heatmapChart(view) {
  const by = bucketsBySymbol(view);
  const axis = bucketAxis(view);
  // Selection order, top to bottom (the y axis is reversed: Plotly puts row 0 at the bottom).
  const symbols = (state.filters.symbols || []).filter((s) => by[s]);
  const z = symbols.map((s) => {
    const m = Object.fromEntries(by[s].map((b) => [b.bucket, b.change_pct]));
    return axis.keys.map((k) => (k in m ? m[k] : null));
  });
  // Values in the cells when they fit (about 26 px a cell), else on hover only.
  const cell = (document.getElementById("chart-heatmap").clientWidth - 110) / Math.max(1, axis.keys.length);
  const small = cell < 40;
  const traces = symbols.length ? [{
    type: "heatmap", x: axis.labels, y: symbols, z, zmid: 0, colorscale: DIVERGING,
    colorbar: { title: { text: "% chg" }, thickness: 12 }, xgap: 1, ygap: 1,
    texttemplate: cell >= 26 ? "%{z:.2f}" : "", textfont: { size: small ? 8 : 11, color: "#111" },
    hovertemplate: "%{y} %{x}<br>%{z:.2f}%<extra></extra>",
  }] : [];
  draw("chart-heatmap", traces, baseLayout({
    showlegend: false, xaxis: xAxis(axis, "chart-heatmap"), margin: { l: 55, r: 10, t: 10, b: 40 },
    yaxis: { gridcolor: GRID, type: "category", autorange: "reversed" },
  }));
}

function compareChart(view, axis) {
  const traces = (state.filters.symbols || []).filter((s) => view.series[s]).map((s, i) => ({
    type: "scatter", mode: "lines", name: s, x: view.series[s].ts.map(axis.of), y: view.series[s].norm_close,
    line: { color: PALETTE[i % PALETTE.length], width: 1.6 },
  }));
  draw("chart-compare", traces, baseLayout({
    xaxis: xAxis(axis, "chart-compare"),
    yaxis: { gridcolor: GRID, title: { text: "Index (start = 100)" } },
    shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 100, y1: 100, line: { color: "#8a96a3", dash: "dot", width: 1 } },
      ...sessionLines(axis)],
  }));
}

function indicatorCharts(view, axis) {
  const f = state.filters;
  const s = view.series[f.focus];
  document.getElementById("indicators-symbol").textContent = f.focus ? "· " + f.focus : "";
  const x = s ? s.ts.map(axis.of) : [];
  const band = (y, color) => ({ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { color, dash: "dash", width: 1 } });
  draw("chart-rsi", s ? [{ type: "scatter", mode: "lines", name: "RSI 14", x, y: s.rsi_14, line: { color: "#f5a623" } }] : [],
    baseLayout({
      xaxis: xAxis(axis, "chart-rsi"),
      yaxis: { gridcolor: GRID, range: [0, 100], title: { text: "RSI" } },
      shapes: [band(70, "#e5534b"), band(30, "#26a269"),
        { type: "rect", xref: "paper", x0: 0, x1: 1, y0: 30, y1: 70, fillcolor: "rgba(76,154,255,0.06)", line: { width: 0 } }],
    }));
  draw("chart-macd", s ? [
    { type: "bar", name: "Histogram", x, y: s.macd_hist, marker: { color: s.macd_hist.map((v) => (v !== null && v < 0 ? "#e5534b" : "#26a269")) } },
    { type: "scatter", mode: "lines", name: "MACD", x, y: s.macd, line: { color: "#4c9aff" } },
    { type: "scatter", mode: "lines", name: "Signal", x, y: s.macd_signal, line: { color: "#f5a623" } },
  ] : [], baseLayout({ xaxis: xAxis(axis, "chart-macd"), yaxis: { gridcolor: GRID, title: { text: "MACD" } } }));
}

function drawCharts(view) {
  const axis = timeAxis(view);
  priceChart(view, axis);
  volumeChart(view);
  heatmapChart(view);
  compareChart(view, axis);
  indicatorCharts(view, axis);
}

// ---- KPI cards and health ----------------------------------------------------------------

function kpiCards(view) {
  const byS = Object.fromEntries(view.kpis.map((k) => [k.symbol, k]));
  const cards = (state.filters.symbols || []).map((s) => {
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
    row("Session", el("span", { "data-field": "session", "data-value": k.session }, k.session));
    row("Session high", num("session_high", fmt(k.session_high)));
    row("Session low", num("session_low", fmt(k.session_low)));
    row("Volume", num("volume", fmtInt(k.volume)));
    row("VWAP", num("vwap", fmt(k.vwap)));
    row("Last bar", el("span", { "data-field": "last_ts", "data-value": k.last_ts, class: "nowrap" }, fmtTime(k.last_ts, "short")));
    card.append(dl);
    return card;
  });
  document.getElementById("kpis").replaceChildren(...cards);
}

function renderHealth(h) {
  const box = document.getElementById("health");
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
  const wrap = el("div", { class: "health-table" });
  wrap.append(table);
  for (const e of h.errors || []) wrap.append(el("div", { class: "muted" }, e));
  box.replaceChildren(...nodes, wrap);
}
