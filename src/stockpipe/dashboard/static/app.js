// stockpipe dashboard: filters live in the URL, data comes from /api/view and /api/health,
// and every refresh calls Plotly.react so zoom, filters and scroll position survive.
// New bars are pushed over /api/stream (server-sent events) as soon as they are queryable;
// while that channel is down the page polls /api/view every REFRESH_MS instead.
// zones.js (time zones) and charts.js (drawing) are loaded before this file.
"use strict";

const REFRESH_MS = Math.max(1000, 1000 * Number(document.body.dataset.refresh || 5));
const PUSH = document.body.dataset.push === "1" && typeof EventSource !== "undefined";
// Refreshes in a row without a new bar before the header says "stale".
const STALE_AFTER = 2;
const INTERVAL_NAMES = { "1m": "1 min", "5m": "5 min", "15m": "15 min", "1h": "1 hour", "1d": "1 day" };

const $ = (id) => document.getElementById(id);
const state = {
  filters: readUrl(), timer: null, inFlight: false, pending: false, lastView: null,
  // Freshness: the newest bar seen, when it was first seen, and refreshes since then.
  lastBar: null, lastBarSeenAt: null, unchanged: 0,
  // Push: the open EventSource, whether it is connected, and the view it has built.
  source: null, pushLive: false, pushView: null, pushRetry: null,
};

// ---- URL state -------------------------------------------------------------------------

function readUrl() {
  const q = new URLSearchParams(location.search);
  const list = (v) => (v ? v.split(",").filter(Boolean) : []);
  return {
    // null: not chosen (the server's defaults); []: the user unticked every symbol.
    symbols: q.has("symbols") ? list(q.get("symbols")) : null,
    window: q.get("window") || "1d",
    from: q.get("from") || "",
    to: q.get("to") || "",
    interval: q.get("interval") || "",  // "": automatic, per window
    focus: q.get("focus") || "",
    chart: q.get("chart") === "candles" ? "candles" : "line",
    overlays: q.has("overlays") ? list(q.get("overlays")) : ["sma20", "vwap"],
    tz: q.get("tz") === "utc" ? "utc" : "et",
    vlog: q.get("vlog") === "1",
  };
}

function dataQuery(q) {
  // Only the filters that change the data go to the server; the rest is presentation.
  const f = state.filters;
  if (f.symbols !== null) q.set("symbols", f.symbols.join(","));
  q.set("window", f.window);
  if (f.window === "custom") { q.set("from", f.from); q.set("to", f.to); }
  if (f.interval) q.set("interval", f.interval);
  return q;
}

function writeUrl() {
  const f = state.filters;
  const q = dataQuery(new URLSearchParams());
  if (f.focus) q.set("focus", f.focus);
  q.set("chart", f.chart);
  q.set("overlays", f.overlays.join(","));
  if (f.tz !== "et") q.set("tz", f.tz);
  if (f.vlog) q.set("vlog", "1");
  history.replaceState(null, "", "?" + q.toString());
}

const apiQuery = () => dataQuery(new URLSearchParams()).toString();

// ---- banner and loading ----------------------------------------------------------------

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
function setLoading(on) {
  $("loading").classList.toggle("hidden", !on);
  document.body.classList.toggle("loading", on);
}

// ---- filter controls -------------------------------------------------------------------

function syncControls(view) {
  const f = state.filters;
  const catalog = view ? view.catalog : [];
  const chosen = f.symbols || [];
  const symbols = [...new Set([...catalog.map((r) => r.symbol), ...chosen])].sort();
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
  for (const input of box.querySelectorAll("input")) input.checked = chosen.includes(input.value);

  // The intervals the lake can make; one it cannot is kept (and marked) so the hint applies.
  const offered = view ? view.intervals : [];
  const resolved = view ? view.filters.interval : null;
  const options = [["", "Auto" + (resolved && !f.interval ? " (" + resolved + ")" : "")]];
  for (const i of offered) options.push([i, i]);
  if (f.interval && !offered.includes(f.interval)) options.push([f.interval, f.interval + (view ? " (not in the lake)" : "")]);
  const sel = $("interval");
  if ([...sel.options].map((o) => o.value + "=" + o.textContent).join(",") !== options.map((o) => o.join("=")).join(",")) {
    sel.replaceChildren(...options.map(([v, t]) => el("option", { value: v }, t)));
  }
  sel.value = f.interval;

  const focus = $("focus");
  if ([...focus.options].map((o) => o.value).join(",") !== chosen.join(",")) {
    focus.replaceChildren(...chosen.map((s) => el("option", { value: s }, s)));
  }
  focus.value = f.focus;

  $("window").value = f.window;
  $("custom").classList.toggle("hidden", f.window !== "custom");
  for (const node of document.querySelectorAll(".zone-name")) node.textContent = zoneName();
  if (f.window === "custom") {
    // Never overwrite what the user is typing: a refresh may land between two edits.
    if (!$("from").dataset.dirty) $("from").value = toZonedInput(f.from, f.tz);
    if (!$("to").dataset.dirty) $("to").value = toZonedInput(f.to, f.tz);
  }
  $("chart").value = f.chart;
  $("tz").value = f.tz;
  $("vlog").checked = f.vlog;
  for (const input of $("overlays").querySelectorAll("input")) input.checked = f.overlays.includes(input.value);
}

function setSymbols(list) {
  const f = state.filters;
  f.symbols = list;
  if (!list.includes(f.focus)) f.focus = list[0] || "";
  changed(true);
}

function onSymbolsChange() {
  setSymbols([...$("symbols").querySelectorAll("input:checked")].map((i) => i.value));
}

function changed(refetch) {
  writeUrl();
  if (refetch) { setLoading(true); refresh(true); connectPush(); } else if (state.lastView) render(state.lastView);
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
    // The inputs are in the zone shown; the URL and the API keep UTC.
    f.from = fromZonedInput($("from").value, f.tz);
    f.to = fromZonedInput($("to").value, f.tz);
    changed(true);
  });
  $("symbols-all").addEventListener("click", () => {
    const all = [...new Set((state.lastView ? state.lastView.catalog : []).map((r) => r.symbol))].sort();
    setSymbols(all.slice(0, 20));
  });
  $("symbols-none").addEventListener("click", () => setSymbols([]));
  $("interval").addEventListener("change", (e) => { state.filters.interval = e.target.value; changed(true); });
  $("focus").addEventListener("change", (e) => { state.filters.focus = e.target.value; changed(false); });
  $("chart").addEventListener("change", (e) => { state.filters.chart = e.target.value; changed(false); });
  $("tz").addEventListener("change", (e) => {
    state.filters.tz = e.target.value === "utc" ? "utc" : "et";
    if (state.lastView) syncControls(state.lastView);
    changed(false);
    if (state.lastHealth) renderHealth(state.lastHealth);
    showStatus();
  });
  $("vlog").addEventListener("change", (e) => { state.filters.vlog = e.target.checked; changed(false); });
  for (const input of $("overlays").querySelectorAll("input")) {
    input.addEventListener("change", () => {
      state.filters.overlays = [...$("overlays").querySelectorAll("input:checked")].map((i) => i.value);
      changed(false);
    });
  }
}

// ---- rendering ---------------------------------------------------------------------------

function render(view) {
  const f = state.filters;
  // Adopt the server's default symbols, so the URL is shareable; the interval stays
  // automatic (it follows the window) unless the user picked one.
  if (f.symbols === null) f.symbols = view.filters.symbols;
  if (!f.symbols.includes(f.focus)) f.focus = f.symbols[0] || "";
  writeUrl();
  syncControls(view);
  const hide = (message, kind) => {
    banner(kind, message);
    $("panels").classList.add("hidden");
  };
  if (view.empty) {
    const run = state.pipeline || {};
    // While a run backfills, the lake is empty because processing has not caught up yet.
    if (run.running) return hide("The pipeline is running (" + run.phase + "); bars appear here as soon as the first batch is processed.", "empty");
    return hide("No bars in the lake yet. Start the pipeline (stockpipe run) and this page fills in by itself; it refreshes every " + REFRESH_MS / 1000 + " s.", "empty");
  }
  if (!f.symbols.length) return hide("No symbols selected: tick one or more above, or press All.", "hint");
  if (view.hint) return hide(view.hint, "hint");
  clearBanner();
  $("panels").classList.remove("hidden");
  const w = view.window;
  const sessions = view.sessions ? " · " + view.sessions + (view.sessions === 1 ? " session" : " sessions") : "";
  const bars = view.filters.interval ? " · " + (INTERVAL_NAMES[view.filters.interval] || view.filters.interval) + " bars" : "";
  $("window-label").textContent = w ? "· " + fmtTime(w.from, "short") + " → " + fmtTime(w.to, "short") + sessions + bars : "· no bars in this window";
  kpiCards(view);
  drawCharts(view);
}

// "live", or "stale since ..." once STALE_AFTER refreshes in a row brought no new bar.
const newestBar = (view) => view.catalog.reduce((m, r) => (r.last_ts > m ? r.last_ts : m), "");

function noteFreshness(view) {
  const newest = newestBar(view);
  if (newest !== state.lastBar) {
    state.lastBar = newest;
    state.lastBarSeenAt = new Date().toISOString();
    state.unchanged = 0;
  } else {
    state.unchanged += 1;
  }
}

function showStatus() {
  const s = $("status");
  if (!state.statusKind) return;
  // How new bars arrive: pushed, or polled while the push channel is down (or off).
  const every = state.pushLive ? " · push" : " · polling every " + REFRESH_MS / 1000 + " s" + (PUSH ? " (push reconnecting)" : "");
  document.body.dataset.channel = state.pushLive ? "push" : "polling";
  if (state.statusKind !== "ok") {
    s.className = "status degraded";
    s.textContent = "degraded · updated " + fmtTime(state.updatedAt, "clock") + every;
  } else if (state.unchanged >= STALE_AFTER && state.lastBar) {
    s.className = "status stale";
    s.textContent = "stale since " + fmtTime(state.lastBarSeenAt, "clock") + " · last bar " + fmtTime(state.lastBar, "short");
  } else {
    s.className = "status live";
    s.textContent = "live · updated " + fmtTime(state.updatedAt, "clock") + every;
  }
  // The simulated clock of a running `stockpipe run` ("simulated Mon 2026-12-07 10:41 ET, 60x").
  const clock = state.pipeline && state.pipeline.clock;
  if (clock && clock !== "-") s.textContent += " · " + clock;
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

// `force`: a filter changed, fetch the view even while bars are pushed. The timer only
// polls the view while the push channel is down; the health panel is polled always.
async function refresh(force) {
  clearTimeout(state.timer);
  if (state.inFlight) { state.pending = true; state.pendingForce = state.pendingForce || !!force; return; }
  state.inFlight = true;
  const query = apiQuery();
  const wantView = force || !state.pushLive;
  try {
    const [view, health] = await Promise.all([
      wantView ? getJson("/api/view?" + query) : Promise.resolve(null), getJson("/api/health")]);
    if (query !== apiQuery()) { state.pending = true; return; }  // filters changed meanwhile
    state.pipeline = health.ok ? health.body.pipeline : null;
    if (view === null) {
      // Pushed views are drawn as they come; a period without one counts towards "stale".
      if (state.pushView) noteFreshness(state.pushView);
    } else if (view.ok) {
      state.lastView = view.body;
      noteFreshness(view.body);
      render(view.body);
      drawn(view.body, "poll");
    } else if (view.status === 400) {
      banner("error", "Invalid filter: " + view.body.error + ".", true);
      syncControls(state.lastView);
    } else {
      banner("error", "Cannot read market data: " + view.body.error + " Retrying every " + REFRESH_MS / 1000 + " s.");
    }
    if (health.ok) { state.lastHealth = health.body; renderHealth(health.body); }
    else $("health").replaceChildren(el("div", { class: "muted" }, "Health unavailable: " + health.body.error));
    if (view !== null) {
      state.statusKind = view.ok ? "ok" : "degraded";
      state.updatedAt = new Date().toISOString();
    }
    showStatus();
    if (!state.pending) setLoading(false);
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  } finally {
    state.inFlight = false;
    if (state.pending) {
      const again = state.pendingForce;
      state.pending = false; state.pendingForce = false;
      refresh(again);
    } else state.timer = setTimeout(refresh, REFRESH_MS);
  }
}

// ---- push --------------------------------------------------------------------------------

// Tell whoever listens (the benchmark, tests) which bar of each symbol is now on screen.
// `renderMs`: how long the redraw took, so a slow page can be told from a slow server.
function drawn(view, via, renderMs) {
  const last = {};
  for (const [symbol, s] of Object.entries(view.series || {})) if (s.ts.length) last[symbol] = s.ts[s.ts.length - 1];
  document.body.dataset.drawnVia = via;
  const detail = { via, last, at: Date.now(), render_ms: renderMs === undefined ? null : renderMs };
  document.dispatchEvent(new CustomEvent("stockpipe:drawn", { detail }));
}

function showPushed(view) {
  state.pushView = view;
  state.lastView = view;
  // A push comes when the lake changed; only a newer bar makes the page "live" again.
  if (newestBar(view) !== state.lastBar) noteFreshness(view);
  state.statusKind = "ok";
  state.updatedAt = new Date().toISOString();
  const started = performance.now();
  render(view);
  setLoading(false);
  showStatus();
  drawn(view, "push", performance.now() - started);
}

// A `bars` event: per symbol, keep the first `keep` bars and append the ones sent.
function applyDelta(msg) {
  const base = state.pushView;
  if (!base) return;
  const series = {};
  for (const symbol of msg.unchanged) series[symbol] = base.series[symbol];
  for (const [symbol, delta] of Object.entries(msg.series)) {
    const old = base.series[symbol] || {};
    const cols = {};
    for (const [field, values] of Object.entries(delta)) {
      if (field !== "keep") cols[field] = (old[field] || []).slice(0, delta.keep).concat(values);
    }
    series[symbol] = cols;
  }
  showPushed(Object.assign({}, msg.view, { series }));
}

function connectPush() {
  if (!PUSH) return;
  clearTimeout(state.pushRetry);
  if (state.source) state.source.close();
  const source = new EventSource("/api/stream?" + apiQuery());
  state.source = source;
  const mine = (fn) => (e) => { if (state.source === source) fn(e); };
  source.addEventListener("open", mine(() => { state.pushLive = true; showStatus(); }));
  source.addEventListener("view", mine((e) => showPushed(JSON.parse(e.data))));
  source.addEventListener("bars", mine((e) => applyDelta(JSON.parse(e.data))));
  source.addEventListener("failure", mine((e) => {
    banner("error", "Cannot read market data: " + JSON.parse(e.data).error);
    state.statusKind = "degraded";
    showStatus();
  }));
  source.addEventListener("error", mine(() => {
    // Dropped: poll until it is back. EventSource reconnects by itself unless the
    // server refused the stream (CLOSED); then try again after a refresh period.
    const wasLive = state.pushLive;
    state.pushLive = false;
    state.pushView = null;
    showStatus();
    if (wasLive) refresh();
    if (source.readyState === EventSource.CLOSED) state.pushRetry = setTimeout(connectPush, REFRESH_MS);
  }));
}

wireControls();
syncControls(null);
setLoading(true);
refresh(true);
connectPush();
