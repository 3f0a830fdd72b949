// windlass's dashboard: plain JavaScript, no build step. The server lays
// graphs out (/ui/api/execution gives node boxes and edge ends); this file
// draws them as SVG, colours states from the summaries, and follows an
// execution by one server-sent-event stream.
"use strict";

const main = document.getElementById("main");
const SVG = "http://www.w3.org/2000/svg";
const PAGE = 50;
const HISTORY_PAGE = 250;
let stream = null; // the open EventSource, closed on every navigation
let navigation = 0; // which navigation a page's late answers belong to
window.windlassTimings = {};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

// replaceChildren writes null as the text "null": leave absent parts out.
function put(parent, ...children) {
  parent.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function getJSON(url, options) {
  const answer = await fetch(url, options);
  if (answer.status === 401) {
    location.href = "/ui/login";
    throw new Error("log in first");
  }
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error || answer.statusText);
  return body;
}

function when(millis) {
  return millis ? new Date(millis).toISOString().replace("T", " ").replace("Z", "") : "";
}

function took(start, stop) {
  if (!start || !stop) return "";
  return duration(stop - start);
}

function duration(ms) {
  return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
}

function pretty(value) {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") {
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch (e) { return value; }
  }
  return JSON.stringify(value, null, 2);
}

function statusBadge(status) {
  return el("span", { class: "badge " + String(status).toLowerCase() }, status);
}

// ---- routes ---------------------------------------------------------------

async function route() {
  if (stream) { stream.close(); stream = null; }
  navigation += 1;
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const [, page, ...rest] = path.split("/");
  const arg = decodeURIComponent(rest.join("/"));
  const params = new URLSearchParams(query || "");
  for (const a of document.querySelectorAll("nav a")) a.classList.remove("current");
  try {
    if (page === "execution") await executionPage(arg);
    else if (page === "machine") await machinePage(arg);
    else if (page === "definition") { mark("nav-definition"); definitionPage(); }
    else if (page === "services") { mark("nav-services"); await servicesPage(); }
    else if (page === "deploys") { mark("nav-deploys"); await listPage("deploys", params); }
    else { mark("nav-executions"); await listPage("api", params); }
  } catch (e) {
    main.replaceChildren(el("p", { class: "problem" }, String(e.message || e)));
  }
}

function mark(id) { document.getElementById(id).classList.add("current"); }

window.addEventListener("hashchange", route);
route();

// ---- executions and machines ----------------------------------------------

async function listPage(source, params) {
  const started = performance.now();
  const mine = navigation;
  const filter = { machine: params.get("machine") || "", status: params.get("status") || "" };
  const machines = source === "api" ? await getJSON("/ui/api/machines") : [];
  if (mine !== navigation) return;
  const list = el("div", { id: "machines" });
  if (machines.length) {
    list.append(el("h2", {}, "State machines"));
    const ul = el("ul", { class: "machines" });
    for (const m of machines) {
      ul.append(el("li", {},
        el("a", { href: "#/machine/" + encodeURIComponent(m.arn) }, m.name), " ",
        el("span", { class: "muted" }, m.kind),
        m.versions.length ? el("div", { class: "muted" }, "versions: ",
          m.versions.map((v) => el("a", { href: "#/machine/" + encodeURIComponent(v.arn) }, " " + v.version))) : null,
        m.aliases.length ? el("div", { class: "muted" }, "aliases: ",
          m.aliases.map((a) => a.name + " (" + a.routing.map((r) => r[0].split(":").pop() + " " + r[1] + "%").join(", ") + ") ")) : null));
    }
    list.append(ul);
  }
  const machineSelect = el("select", { id: "filter-machine" }, el("option", { value: "" }, "all machines"),
    machines.map((m) => el("option", { value: m.arn, selected: m.arn === filter.machine }, m.name)));
  const statusSelect = el("select", { id: "filter-status" },
    ["", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"].map((s) =>
      el("option", { value: s, selected: s === filter.status }, s || "any status")));
  const body = el("tbody", {});
  const table = el("table", { id: "executions", class: "list" },
    el("thead", {}, el("tr", {}, ["Name", "Status", "Machine", "Started", "Duration"].map((h) => el("th", {}, h)))), body);
  const more = el("button", { id: "more", type: "button" }, "Older");
  const counter = el("span", { id: "listed", class: "muted" });
  let cursor = null;
  let shown = 0;
  async function load() {
    const q = new URLSearchParams({ limit: PAGE, source: source === "deploys" ? "deploys" : "api" });
    if (machineSelect.value) q.set("machine", machineSelect.value);
    if (statusSelect.value) q.set("status", statusSelect.value);
    if (cursor) { q.set("after_millis", cursor.start_millis); q.set("after_arn", cursor.arn); }
    const page = await getJSON("/ui/api/executions?" + q);
    if (mine !== navigation) return;
    const rows = document.createDocumentFragment();
    for (const e of page.executions) {
      rows.append(el("tr", { "data-arn": e.arn },
        el("td", {}, el("a", { href: "#/execution/" + encodeURIComponent(e.arn) }, e.name)),
        el("td", {}, statusBadge(e.status)),
        el("td", { class: "muted" }, e.machine.split(":").pop()),
        el("td", {}, when(e.start_millis)),
        el("td", {}, took(e.start_millis, e.stop_millis))));
    }
    body.append(rows);
    shown += page.executions.length;
    counter.textContent = shown + " shown";
    cursor = page.executions.length ? page.executions[page.executions.length - 1] : cursor;
    more.hidden = !page.more;
    if (!window.windlassTimings.listRendered) window.windlassTimings.listRendered = performance.now() - started;
  }
  function reload() {
    body.replaceChildren(); cursor = null; shown = 0; load();
  }
  machineSelect.addEventListener("change", reload);
  statusSelect.addEventListener("change", reload);
  more.addEventListener("click", load);
  main.replaceChildren(
    list,
    el("h2", {}, source === "deploys" ? "Deploy executions" : "Executions"),
    el("div", { class: "filters" }, source === "api" ? machineSelect : null, statusSelect, counter),
    table, more);
  await load();
}

async function machinePage(arn) {
  const view = await getJSON("/ui/api/definition?arn=" + encodeURIComponent(arn));
  const holder = el("div", { class: "graph" });
  main.replaceChildren(
    el("h2", {}, arn.split(":").slice(-2).join(":")),
    el("p", {}, el("a", { href: "#/?machine=" + encodeURIComponent(arn) }, "its executions")),
    holder, diagnosticsList(view.diagnostics));
  holder.append(drawGraph(view.graph, {}, null, view.diagnostics));
}

// ---- a definition before it runs --------------------------------------------

function definitionPage() {
  const text = el("textarea", { id: "definition-text", rows: 14, spellcheck: "false",
    placeholder: "Paste an ASL definition (JSON or YAML)" });
  const holder = el("div", { class: "graph", id: "definition-graph" });
  const problems = el("div", { id: "diagnostics" });
  const draw = el("button", { type: "button", id: "draw" }, "Draw and validate");
  draw.addEventListener("click", async () => {
    const view = await getJSON("/ui/api/definition", {
      method: "POST", body: text.value, headers: { "X-Windlass-Dashboard": "1", "Content-Type": "text/plain" } });
    holder.replaceChildren(drawGraph(view.graph, {}, null, view.diagnostics));
    problems.replaceChildren(diagnosticsList(view.diagnostics));
  });
  main.replaceChildren(el("h2", {}, "Definition"), text, el("div", {}, draw), holder, problems);
}

function diagnosticsList(diagnostics) {
  if (!diagnostics.length) return el("p", { class: "valid", id: "valid" }, "Valid: no diagnostics.");
  return el("ul", { class: "diagnostics" }, diagnostics.map((d) =>
    el("li", { "data-node": d.node || "" }, el("b", {}, d.code), " ", d.message,
      el("span", { class: "muted" }, " at " + (d.pointer || "the document") + (d.line ? " (line " + d.line + ")" : "")))));
}

// ---- the graph ----------------------------------------------------------------

function drawGraph(graph, states, onClick, diagnostics) {
  const margin = 12;
  const root = svg("svg", { id: "graph", width: graph.width + 2 * margin, height: graph.height + 2 * margin,
    viewBox: `${-margin} ${-margin} ${graph.width + 2 * margin} ${graph.height + 2 * margin}` });
  root.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }))));
  const flagged = new Map();
  for (const d of diagnostics || []) if (d.node) flagged.set(d.node, (flagged.get(d.node) || []).concat(d.message));
  const kinds = new Map(graph.nodes.map((n) => [n.id, n.kind]));
  // Containers first, so the states nested in them are drawn on top.
  const nodes = graph.nodes.slice().sort((a, b) => (kinds.get(b.id) === "Parallel" || kinds.get(b.id) === "Map") - (kinds.get(a.id) === "Parallel" || kinds.get(a.id) === "Map"));
  const layer = svg("g", {});
  for (const n of nodes) {
    const container = n.kind === "Parallel" || n.kind === "Map";
    const summary = states[n.id] || { status: "not_run" };
    const g = svg("g", { class: "node status-" + summary.status + (container ? " container" : "") + (flagged.has(n.id) ? " flagged" : ""),
      "data-id": n.id, "data-name": n.name, "data-status": summary.status, tabindex: 0 });
    g.append(svg("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: container ? 6 : 14 }));
    const label = svg("text", { x: n.x + n.w / 2, y: container ? n.y + 18 : n.y + n.h / 2 + 5, "text-anchor": "middle" });
    label.textContent = n.name;
    g.append(label);
    const badge = svg("text", { class: "kind", x: n.x + 8, y: n.y + 12 });
    badge.textContent = n.kind + (summary.items ? ` ${summary.items.succeeded}/${summary.items.total || summary.items.started}` : "");
    g.append(badge);
    if (flagged.has(n.id)) {
      const title = svg("title", {});
      title.textContent = flagged.get(n.id).join("\n");
      g.append(title);
    }
    if (onClick) g.addEventListener("click", (ev) => { ev.stopPropagation(); onClick(n); });
    layer.append(g);
  }
  for (const c of graph.clusters) {
    layer.append(svg("rect", { class: "cluster", x: c.x, y: c.y, width: c.w, height: c.h, rx: 4 }));
  }
  const edges = svg("g", { class: "edges" });
  for (const e of graph.edges) {
    const [[x1, y1], [x2, y2]] = e.points;
    let d;
    if (y2 > y1) {
      const bend = Math.max(20, (y2 - y1) / 2);
      d = `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`;
    } else {
      const out = 40 + Math.abs(y1 - y2) / 6;
      d = `M${x1},${y1} C${x1 + out},${y1} ${x2 + out},${y2} ${x2},${y2}`;
    }
    edges.append(svg("path", { d, class: "edge " + e.kind, "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to }));
    if (e.label && e.kind !== "next") {
      const t = svg("text", { class: "edge-label", x: (x1 + x2) / 2 + 4, y: (y1 + y2) / 2 });
      t.textContent = e.label;
      edges.append(t);
    }
  }
  root.append(layer, edges);
  return root;
}

function recolour(root, states) {
  for (const [id, summary] of Object.entries(states)) {
    const g = root.querySelector(`g.node[data-id="${CSS.escape(id)}"]`);
    if (!g) continue;
    g.setAttribute("data-status", summary.status);
    g.setAttribute("class", g.getAttribute("class").replace(/status-\S+/, "status-" + summary.status));
    const badge = g.querySelector("text.kind");
    const kind = badge.textContent.split(" ")[0];
    badge.textContent = kind + (summary.items ? ` ${summary.items.succeeded}/${summary.items.total || summary.items.started}` : "");
  }
}

// ---- one execution --------------------------------------------------------------

async function executionPage(arn) {
  const started = performance.now();
  const mine = navigation;
  const detail = await getJSON("/ui/api/execution?arn=" + encodeURIComponent(arn));
  if (mine !== navigation) return;
  window.windlassTimings.answered = performance.now() - started;
  const e = detail.execution;
  const states = detail.states;
  const status = el("span", { id: "execution-status" }, statusBadge(e.status));
  const times = el("span", { class: "muted", id: "execution-times" }, when(e.start_millis), " ", took(e.start_millis, e.stop_millis));
  const panel = el("aside", { id: "detail" }, el("p", { class: "muted" }, "Click a state to see its input, output, error, retries and timing."));
  const holder = el("div", { class: "graph" });
  const mapRuns = el("div", { id: "map-runs" });
  const history = historyTable(arn, detail.last_event, started);
  main.replaceChildren(
    el("h2", {}, e.name, " ", status, " ", times),
    el("p", { class: "muted" }, e.machine),
    el("div", { class: "legend" }, ["not_run", "running", "succeeded", "failed", "caught", "retried"].map((k) =>
      el("span", { class: "badge " + k }, k.replace("_", " ")))),
    el("div", { class: "execution" }, holder, panel),
    mapRuns,
    el("h3", {}, "History"), history.node);
  window.windlassTimings.firstRender = performance.now() - started;
  // What the graph shows: the whole execution, or for each Map whose
  // iteration the user picked, its inner states as they ran in it.
  const view = { arn, states, root: null, scope: new Map(), scopeStates: new Map() };
  const root = drawGraph(detail.graph, states, (n) => showState(view, n, panel), []);
  view.root = root;
  holder.append(root);
  showMapRuns(detail.graph, states, mapRuns);
  window.windlassTimings.graphComplete = performance.now() - started;
  window.windlassTimings.nodes = detail.graph.nodes.length;
  if (e.status !== "RUNNING") { root.setAttribute("data-final", e.status); }
  // Live: one stream, from the last event this page has.
  stream = new EventSource(`/ui/api/events?arn=${encodeURIComponent(arn)}&after=${detail.last_event}`);
  stream.addEventListener("update", (message) => {
    const update = JSON.parse(message.data);
    Object.assign(states, update.states);
    if (view.scope.size) refreshScope(view); else recolour(root, update.states);
    // The state shown in the panel changed: show it again (its retries,
    // its output once it exits).
    if (view.selected && update.states[view.selected.id] && !view.loading) showState(view, view.selected, panel);
    showMapRuns(detail.graph, states, mapRuns);
    history.append(update.events);
    status.replaceChildren(statusBadge(update.status));
    if (update.status !== "RUNNING") {
      times.replaceChildren(when(e.start_millis), " ", took(e.start_millis, update.stop_millis));
      root.setAttribute("data-final", update.status);
      stream.close();
    }
  });
  stream.addEventListener("problem", (message) => { panel.prepend(el("p", { class: "problem" }, message.data)); stream.close(); });
}

function showMapRuns(graph, states, holder) {
  const maps = graph.nodes.filter((n) => n.kind === "Map" && states[n.id] && states[n.id].items);
  holder.replaceChildren(...maps.map((n) => {
    const i = states[n.id].items;
    return el("p", { class: "map-run", "data-id": n.id }, el("b", {}, "Map run " + n.name + ": "),
      `${i.total} items, ${i.started} started, ${i.succeeded} succeeded, ${i.failed} failed, ${i.aborted} aborted`);
  }));
}

async function showState(view, node, panel) {
  view.loading = true;
  try { await drawState(view, node, panel); } finally { view.loading = false; }
}

async function drawState(view, node, panel) {
  const arn = view.arn;
  const again = view.selected === node;
  view.selected = node;
  if (!again) panel.replaceChildren(el("p", {}, "Loading " + node.name + "…"));
  // A state inside a Map whose iteration is picked: as it ran in that one.
  const within = innermostScope(view, node.id);
  const s = await getJSON(`/ui/api/state?arn=${encodeURIComponent(arn)}&id=${encodeURIComponent(node.id)}` +
    (within !== null ? "&iteration=" + within : ""));
  const sum = s.summary;
  const iterations = node.kind === "Map" ? await iterationPicker(view, node) : null;
  put(panel,
    el("h3", { id: "detail-name" }, node.name, " ", el("span", { class: "badge " + sum.status }, sum.status.replace("_", " "))),
    within !== null ? el("p", { class: "muted", id: "detail-scope" }, "In the iteration picked on its Map.") : null,
    iterations,
    el("dl", {},
      el("dt", {}, "Type"), el("dd", {}, node.kind),
      el("dt", {}, "Entered"), el("dd", {}, sum.entered + " time(s), first " + when(sum.first_entered_millis)),
      el("dt", {}, "Took"), el("dd", { id: "detail-took" }, took(sum.first_entered_millis, sum.last_exited_millis)),
      el("dt", {}, "Retries"), el("dd", { id: "detail-retries" }, String(sum.retries)),
      el("dt", {}, "Caught"), el("dd", {}, String(sum.caught))),
    s.error ? el("div", { id: "detail-error", class: "problem" },
      sum.status === "failed" ? "Error: " : "Last failure: ", el("b", {}, s.error), " ", s.cause || "") : null,
    el("h4", {}, "Input"), el("pre", { id: "detail-input" }, pretty(s.input)),
    el("h4", {}, "Output"), el("pre", { id: "detail-output" }, pretty(s.output)));
}

// ---- Map iterations -------------------------------------------------------------

// The picked iteration of the innermost picked Map around node `id`.
function innermostScope(view, id) {
  let best = null;
  for (const [map, iteration] of view.scope) {
    if (id.startsWith(map + "/") && (!best || map.length > best[0].length)) best = [map, iteration];
  }
  return best ? best[1] : null;
}

// Forgets the pick of `map` and of the Maps inside it.
function dropScope(view, map) {
  for (const k of [...view.scope.keys()]) {
    if (k === map || k.startsWith(map + "/")) { view.scope.delete(k); view.scopeStates.delete(k); }
  }
}

// The picked iterations as they are now (the execution runs on).
async function refreshScope(view) {
  for (const [map, id] of [...view.scope]) {
    const one = await getJSON(`/ui/api/iteration?arn=${encodeURIComponent(view.arn)}&iteration=${id}`);
    if (view.scope.get(map) === id) view.scopeStates.set(map, one.states);
  }
  recolourScope(view);
}

// The whole execution's colours, then each picked iteration's, outer first.
function recolourScope(view) {
  const shown = Object.assign({}, view.states);
  const maps = [...view.scope.keys()].sort((a, b) => a.length - b.length);
  for (const map of maps) {
    const picked = view.scopeStates.get(map) || {};
    for (const id of Object.keys(shown)) {
      if (id.startsWith(map + "/")) shown[id] = picked[id] || { status: "not_run" };
    }
    for (const [id, summary] of Object.entries(picked)) shown[id] = summary;
  }
  recolour(view.root, shown);
}

function briefly(value) {
  const text = value === undefined || value === null ? "" : JSON.stringify(value);
  return text.length > 60 ? text.slice(0, 57) + "…" : text;
}

// A Map's iterations to pick from (index, item, status), as the Step
// Functions console lists them; picking one shows its input and output and
// colours the Map's inner states as they ran in it.
async function iterationPicker(view, node) {
  const within = innermostScope(view, node.id);
  const list = await getJSON(`/ui/api/iterations?arn=${encodeURIComponent(view.arn)}&id=${encodeURIComponent(node.id)}` +
    (within !== null ? "&within=" + within : ""));
  if (!list.total) return null;
  const select = el("select", { id: "iteration-pick" },
    el("option", { value: "" }, `All ${list.total} iterations`),
    list.iterations.map((i) => el("option", { value: String(i.id), "data-index": i.index },
      `#${i.index}${i.entry ? " (entry " + (i.entry + 1) + ")" : ""} · ${i.status} · ${briefly(i.item)}`)));
  if (view.scope.has(node.id)) select.value = String(view.scope.get(node.id));
  const shown = el("div", { id: "iteration-detail" });
  async function pick() {
    dropScope(view, node.id);
    if (!select.value) { shown.replaceChildren(); recolourScope(view); return; }
    const one = await getJSON(`/ui/api/iteration?arn=${encodeURIComponent(view.arn)}&iteration=${select.value}`);
    view.scope.set(node.id, one.id);
    view.scopeStates.set(node.id, one.states);
    put(shown,
      el("p", { id: "iteration-status" }, "Iteration #" + one.index, " ", el("span", { class: "badge " + one.status }, one.status)),
      el("h4", {}, "Item (the iteration's input)"), el("pre", { id: "iteration-input" }, pretty(one.input)),
      el("h4", {}, "The iteration's output"), el("pre", { id: "iteration-output" }, pretty(one.output)));
    recolourScope(view);
  }
  select.addEventListener("change", pick);
  if (select.value) pick();
  return el("div", { class: "iterations" }, el("h4", {}, "Iterations"), select,
    list.total > list.iterations.length ? el("p", { class: "muted" }, `the first ${list.iterations.length} of ${list.total}`) : null,
    shown);
}

// The history, a page at a time: a 25,000-event execution never puts
// 25,000 rows in the document.
function historyTable(arn, lastEvent, historyStarted) {
  let last = lastEvent;
  let first = Math.max(1, last - HISTORY_PAGE + 1);
  const body = el("tbody", {});
  const info = el("span", { class: "muted", id: "history-range" });
  const older = el("button", { type: "button", id: "history-older" }, "Earlier events");
  const newer = el("button", { type: "button", id: "history-newer" }, "Latest events");
  let following = true;
  function rows(events) {
    const f = document.createDocumentFragment();
    for (const ev of events) {
      const key = Object.keys(ev).find((k) => k.endsWith("EventDetails"));
      const details = key ? ev[key] : {};
      f.append(el("tr", {},
        el("td", {}, String(ev.id)), el("td", {}, ev.type), el("td", {}, details.name || ev.stateName || ""),
        el("td", {}, ev.timestamp),
        el("td", {}, el("details", {}, el("summary", {}, "details"), el("pre", {}, pretty(details))))));
    }
    return f;
  }
  async function show(from) {
    first = Math.max(1, from);
    const page = await getJSON(`/ui/api/history?arn=${encodeURIComponent(arn)}&from=${first}&to=${first + HISTORY_PAGE - 1}`);
    body.replaceChildren(rows(page.events.slice().reverse()));
    if (!window.windlassTimings.historyShown) window.windlassTimings.historyShown = performance.now() - historyStarted;
    following = first + HISTORY_PAGE > last;
    info.textContent = `events ${first}–${Math.min(last, first + HISTORY_PAGE - 1)} of ${last}`;
  }
  older.addEventListener("click", () => show(first - HISTORY_PAGE));
  newer.addEventListener("click", () => show(last - HISTORY_PAGE + 1));
  show(first);
  const node = el("div", {}, el("div", { class: "filters" }, older, newer, info),
    el("table", { id: "history", class: "list" },
      el("thead", {}, el("tr", {}, ["Id", "Type", "State", "Time", ""].map((h) => el("th", {}, h)))), body));
  return {
    node,
    append(events) {
      if (!events.length) return;
      last = events[events.length - 1].id;
      if (!following) { info.textContent = `events ${first}–${first + HISTORY_PAGE - 1} of ${last}`; return; }
      body.prepend(rows(events.slice(-HISTORY_PAGE).reverse()));
      while (body.children.length > HISTORY_PAGE) body.lastChild.remove();
      first = Math.max(1, last - HISTORY_PAGE + 1);
      info.textContent = `events ${first}–${last} of ${last}`;
    },
  };
}

// ---- services ---------------------------------------------------------------------

async function servicesPage() {
  const view = await getJSON("/ui/api/services");
  if (!view.enabled) {
    main.replaceChildren(el("h2", {}, "Services"), el("p", {}, "This server knows no deploy agent: start it with --agent-state DIR."));
    return;
  }
  const problem = el("div", { id: "agent-problem" });
  const showProblem = (v) => put(problem, v.agent_problem ? el("p", { class: "problem" }, "The agent did not answer: " + v.agent_problem) : null);
  showProblem(view);
  put(main, el("h2", {}, "Services"), problem,
    view.services.length || view.apps.length ? null : el("p", {}, "Nothing deployed yet: windlass deploy -f compose.yaml."),
    ...environmentsSections(view), ...view.apps.map(appSection), ...view.services.map(serviceSection));
  // The server samples the proxies every 2 s; the page reads the samples
  // (and the releases, which a rollback changes) as often.
  const mine = navigation;
  const timer = setInterval(async () => {
    if (mine !== navigation) { clearInterval(timer); return; }
    const fresh = await getJSON("/ui/api/services");
    if (mine !== navigation) return;
    showProblem(fresh);
    for (const s of fresh.services) {
      const old = document.querySelector(`section.service[data-service="${CSS.escape(s.service)}"]`);
      if (old) old.update(s);
    }
    for (const a of fresh.apps) {
      const old = document.querySelector(`section.app[data-app="${CSS.escape(a.app)}"]`);
      if (old) old.update(a);
    }
  }, 2000);
}

// A rollback button with its confirmation dialog: `id` names the button
// (`rollback-ID`), the dialog (`confirm-ID`) and its confirm button
// (`confirm-rollback-ID`); `body` is what /ui/api/rollback is sent. On
// success the page follows the rollback's execution as it runs.
function rollbackControl(id, body) {
  const button = el("button", { type: "button", class: "rollback", id: "rollback-" + id });
  const result = el("div", { class: "rollback-result" });
  const question = el("p", {});
  const dialog = el("dialog", { id: "confirm-" + id }, question,
    el("button", { type: "button", class: "confirm", id: "confirm-rollback-" + id }, "Roll back"),
    el("button", { type: "button", class: "cancel" }, "Cancel"));
  dialog.querySelector(".cancel").addEventListener("click", () => dialog.close());
  dialog.querySelector(".confirm").addEventListener("click", async () => {
    dialog.close();
    result.replaceChildren(el("p", { class: "muted" }, "Asking the agent…"));
    const answer = await fetch("/ui/api/rollback", { method: "POST",
      headers: { "Content-Type": "application/json", "X-Windlass-Dashboard": "1" },
      body: JSON.stringify(body) });
    if (answer.status === 401) { location.href = "/ui/login"; return; }
    const reply = await answer.json().catch(() => ({ error: answer.status + " " + answer.statusText }));
    if (!answer.ok) { result.replaceChildren(el("p", { class: "problem", id: "rollback-problem" }, reply.error)); return; }
    // The rollback's execution, drawn live as it runs.
    location.hash = "#/execution/" + encodeURIComponent(reply.execution);
  });
  button.addEventListener("click", () => dialog.showModal());
  return {
    button, dialog, result,
    // The button says where it goes; when it is off (no release to go
    // to, or the server allows none) its tooltip says why.
    set(label, to, text, off) {
      button.textContent = label + (to ? " to " + to : "");
      button.disabled = Boolean(off) || !to;
      if (button.disabled) button.title = off || "nothing to roll back to";
      else button.removeAttribute("title");
      question.textContent = text;
    },
  };
}

function serviceSection(s) {
  const control = rollbackControl(s.service, { service: s.service });
  const table = el("div", {});
  const address = el("span", { class: "muted" });
  const rollout = el("div", { class: "canary" });
  const section = el("section", { class: "service", "data-service": s.service },
    el("h3", {}, s.service, " ", address, " ", control.button), control.dialog, control.result, rollout, table);
  // Redrawn with each new sample; the button and the dialog stay.
  section.update = (fresh) => {
    s = fresh;
    put(rollout, s.canary ? canaryPanel(s.canary) : null);
    address.textContent = s.target === "swarm"
      ? "on the Swarm (windlass's entry point on its managers" + (s.address ? ", " + s.address : "") + ")"
      : s.address || "no proxy";
    control.set("Roll back", s.rollback_to, `Roll ${s.service} back from ${s.live} to ${s.rollback_to || "its previous release"}?` +
      (s.target === "ecs" ? " (an ECS rollout of its task definition revision, not a flip)" : ""), s.rollback_off);
    table.replaceChildren(releasesTable(s));
  };
  section.update(s);
  return section;
}

function releasesTable(s) {
  const rows = s.releases.map((r) => el("tr", { "data-release": r.id, class: r.id === s.live ? "live" : r.id === s.warm ? "warm" : "" },
    el("td", {}, r.id, r.id === s.live ? el("span", { class: "badge succeeded" }, "live") : null, r.id === s.warm ? el("span", { class: "badge warm" }, "warm") : null),
    el("td", {}, r.outcome), el("td", {}, when(r.created_millis)),
    el("td", {}, r.time_to_live_millis != null ? duration(r.time_to_live_millis) : ""),
    el("td", {}, r.rollback_millis != null ? duration(r.rollback_millis) : ""),
    el("td", { class: "charts" }, chart(r.traffic, "requests"), chart(r.traffic, "server_errors"), chart(r.traffic, "p99_us")),
    el("td", {}, r.execution ? el("a", { href: "#/execution/" + encodeURIComponent(r.execution) }, "execution") : ""),
    el("td", { class: "muted" }, el("div", { class: "detail" }, r.detail || ""))));
  return el("table", { class: "list releases" },
      el("thead", {}, el("tr", {}, ["Release", "Outcome", "Created", "Time to live", "Time to roll back", "Traffic (last samples)", "", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows));
}

// An app deployed in several environments (`--env`): one table with a
// column per environment, the app release serving in each, and per service
// its live release and image digest there (and where a promoted image came
// from), so the page shows which digest runs where.
function environmentsSections(view) {
  const groups = new Map();
  for (const a of view.apps) {
    if (!groups.has(a.base)) groups.set(a.base, []);
    groups.get(a.base).push(a);
  }
  const sections = [];
  for (const [base, apps] of groups) {
    if (apps.length < 2 || apps.every((a) => !a.environment)) continue;
    const names = [...new Set(view.services.filter((s) => apps.some((a) => a.app === s.app)).map((s) => s.name))].sort();
    const cell = (a, name) => {
      const s = view.services.find((x) => x.app === a.app && x.name === name);
      const r = s && s.releases.find((x) => x.id === s.live);
      if (!r) return el("td", { class: "muted" }, "not live");
      const digest = (r.digest || "").split(":").pop().slice(0, 12);
      const from = r.origin && r.origin.services[name];
      return el("td", { "data-environment": a.environment || "", "data-service": name },
        r.id + " ", el("code", {}, digest),
        from ? el("span", { class: "muted" }, ` < ${r.origin.environment} ${from.release}`) : null);
    };
    sections.push(el("section", { class: "environments", "data-base": base },
      el("h3", {}, "App " + base + ": environments side by side"),
      el("table", { class: "list environments" },
        el("thead", {}, el("tr", {}, el("th", {}, "Service"), ...apps.map((a) => el("th", {}, a.environment || "(no --env)")))),
        el("tbody", {},
          el("tr", {}, el("td", { class: "muted" }, "app release"), ...apps.map((a) => el("td", {}, a.live || "none"))),
          ...names.map((name) => el("tr", {}, el("td", {}, name), ...apps.map((a) => cell(a, name))))))));
  }
  return sections;
}

function appSection(a) {
  const control = rollbackControl("app-" + a.app, { app: a.app });
  const table = el("div", {});
  const gate = gateControl(a.app);
  const section = el("section", { class: "app", "data-app": a.app },
    el("h3", {}, "App " + a.app, a.target === "swarm" ? " (on the Swarm)" : "", " ", control.button), control.dialog, control.result, gate.node, table);
  section.update = (fresh) => {
    a = fresh;
    gate.set(a.rollout);
    const to = a.releases.find((r) => r.id === a.warm);
    const services = to ? to.services.map(([service, release]) => service + " " + release).join(", ") : "";
    control.set("Roll back app", a.warm,
      `Roll app ${a.app} back from ${a.live} to ${a.warm || "its previous app release"}` + (services ? ` (${services})?` : "?"), a.rollback_off);
    table.replaceChildren(appReleasesTable(a));
  };
  section.update(a);
  return section;
}

function appReleasesTable(a) {
  return el("table", { class: "list releases" },
    el("thead", {}, el("tr", {}, ["App release", "Outcome", "Created", "Services", "Time to roll back", "", ""].map((h) => el("th", {}, h)))),
    el("tbody", {}, a.releases.map((r) => el("tr", { "data-app-release": r.id, class: r.id === a.live ? "live" : r.id === a.warm ? "warm" : "" },
      el("td", {}, r.id, r.id === a.live ? el("span", { class: "badge succeeded" }, "live") : null, r.id === a.warm ? el("span", { class: "badge warm" }, "warm") : null),
      el("td", {}, r.outcome), el("td", {}, when(r.created_millis)),
      el("td", {}, r.services.map(([service, release, changed]) => service + " " + release + (changed ? "" : " (kept)")).join(", ")),
      el("td", {}, r.rollback_millis != null ? duration(r.rollback_millis) : ""),
      el("td", {}, r.execution ? el("a", { href: "#/execution/" + encodeURIComponent(r.execution) }, "execution") : ""),
      el("td", { class: "muted" }, el("div", { class: "detail" }, r.detail || ""),
        r.origin ? el("div", { class: "origin" }, `promoted from ${r.origin.environment}` + (r.origin.app_release ? ` release ${r.origin.app_release}` : "")) : null)))));
}

// ---- rollout ------------------------------------------------------------------------

// A service's canary while a rollout runs: its weight, and the live
// release's and the canary's requests/s, 5xx share and p99 over the same
// windows (between two of the server's samples), each chart two lines.
function canaryPanel(c) {
  const rate = (w, p) => w.requests * 1000 / Math.max(1, p.millis - p.from_millis);
  const share = (w) => (w.server_error_share == null ? 0 : w.server_error_share * 100);
  const p99 = (w) => (w.p99_us || 0) / 1000;
  const times = c.points.map((p) => p.millis);
  const both = (f) => [
    { name: c.live, cls: "live", values: c.points.map((p) => f(p.live, p)) },
    { name: c.canary, cls: "canary", values: c.points.map((p) => f(p.canary, p)) },
  ];
  return el("div", { class: "rollout-charts", "data-canary": c.canary },
    el("p", {}, el("span", { class: "badge running" }, "rollout"), ` canary ${c.canary} takes `,
      el("strong", { id: "weight-" + c.canary }, c.weight + " %"), ` of new traffic, live ${c.live} ${100 - c.weight} %`),
    lineChart("weight", "Canary weight", "%", 0, times, [{ name: c.canary, cls: "canary", values: c.points.map((p) => p.weight) }]),
    lineChart("requests", "Requests", "req/s", 1, times, both(rate)),
    lineChart("server_error_share", "5xx share", "%", 2, times, both(share)),
    lineChart("p99_us", "Latency p99", "ms", 1, times, both(p99)),
    el("p", { class: "legend muted" }, el("span", { class: "key live" }, "—"), " " + c.live + " (live)  ",
      el("span", { class: "key canary" }, "—"), " " + c.canary + " (canary)"));
}

// A chart of one or more series over the same times, drawn as `chart`
// draws one: axes with the unit, the span of time, each series' latest value.
function lineChart(field, title, unit, digits, times, series) {
  const w = 200, h = 84, left = 38, right = 6, top = 16, bottom = 16;
  const plotW = w - left - right, plotH = h - top - bottom;
  const root = svg("svg", { class: "chart rollout " + field, width: w, height: h, "data-field": field });
  const text = (x, y, content, attrs) => {
    const t = svg("text", Object.assign({ x, y }, attrs || {}));
    t.textContent = content;
    return t;
  };
  const latest = series.map((s) => (s.values.length ? s.values[s.values.length - 1].toFixed(digits) : "–")).join(" / ");
  root.append(text(0, 11, title + ": " + (times.length ? latest + " " + unit : "no window yet"), { class: "chart-value" }));
  const max = Math.max(0, ...series.flatMap((s) => s.values));
  const topValue = unit === "%" && field === "weight" ? 100 : max > 0 ? max : 1;
  const y = (v) => top + plotH - (v / topValue) * plotH;
  root.append(svg("line", { class: "axis", x1: left, y1: top, x2: left, y2: top + plotH }));
  root.append(svg("line", { class: "axis", x1: left, y1: top + plotH, x2: left + plotW, y2: top + plotH }));
  root.append(text(left - 3, top + 4, topValue.toFixed(digits), { class: "tick", "text-anchor": "end" }));
  root.append(text(left - 3, top + plotH, "0", { class: "tick", "text-anchor": "end" }));
  root.append(text(left - 3, top + plotH / 2 + 3, unit, { class: "tick unit", "text-anchor": "end" }));
  if (times.length) {
    const span = Math.round((times[times.length - 1] - times[0]) / 1000);
    root.append(text(left, h - 3, "−" + span + " s", { class: "tick" }));
    root.append(text(left + plotW, h - 3, "now", { class: "tick", "text-anchor": "end" }));
  }
  const x = (i) => left + (times.length === 1 ? plotW : (i / (times.length - 1)) * plotW);
  for (const s of series) {
    if (!s.values.length) continue;
    root.append(svg("polyline", { class: s.cls, points: s.values.map((v, i) => `${x(i)},${y(v)}`).join(" ") }));
  }
  const tip = svg("title", {});
  tip.textContent = title + " (" + unit + "): " + series.map((s) => s.name + " " + (s.values.length ? s.values[s.values.length - 1].toFixed(digits) : "–")).join(", ");
  root.append(tip);
  return root;
}

// An app's rollout: where it is (the gate it waits at, its canaries) and
// the Approve, Promote and Abort buttons, each confirmed in a dialog and
// sent to /ui/api/gate, which asks the agent as `windlass approve`,
// `promote` and `abort` do. Off (with a tooltip saying why) when the
// server allows no answer or there is no gate to answer.
function gateControl(app) {
  const status = el("p", { class: "rollout-status" });
  const result = el("div", { class: "gate-result" });
  const question = el("p", {});
  const confirm = el("button", { type: "button", class: "confirm", id: "gate-confirm-" + app });
  const dialog = el("dialog", { id: "gate-dialog-" + app }, question, confirm,
    el("button", { type: "button", class: "cancel" }, "Cancel"));
  dialog.querySelector(".cancel").addEventListener("click", () => dialog.close());
  let asked = null;
  const QUESTIONS = {
    approve: "Let the rollout of app APP go on to its next step?",
    // What Promote does depends on where the rollout is: its tooltip says.
    promote: "Promote the rollout of app APP now? It will TIP.",
    abort: "Abort the rollout of app APP? Its canaries take no traffic at once and the deploy rolls back.",
  };
  const buttons = ["approve", "promote", "abort"].map((answer) => {
    const b = el("button", { type: "button", class: "gate " + answer, id: answer + "-" + app },
      answer[0].toUpperCase() + answer.slice(1));
    b.addEventListener("click", () => {
      asked = answer;
      question.textContent = QUESTIONS[answer].replace("APP", app).replace("TIP", b.title);
      confirm.textContent = b.textContent;
      dialog.showModal();
    });
    return b;
  });
  confirm.addEventListener("click", async () => {
    dialog.close();
    result.replaceChildren(el("p", { class: "muted" }, "Asking the agent…"));
    const answer = await fetch("/ui/api/gate", { method: "POST",
      headers: { "Content-Type": "application/json", "X-Windlass-Dashboard": "1" },
      body: JSON.stringify({ app, answer: asked }) });
    if (answer.status === 401) { location.href = "/ui/login"; return; }
    const reply = await answer.json().catch(() => ({ error: answer.status + " " + answer.statusText }));
    if (!answer.ok) { result.replaceChildren(el("p", { class: "problem", id: "gate-problem" }, reply.error)); return; }
    result.replaceChildren(el("p", { id: "gate-answered" }, "app " + reply.app + ": " + reply.answered + " ",
      el("a", { href: "#/execution/" + encodeURIComponent(reply.execution) }, "the deploy's execution")));
  });
  const node = el("div", { class: "rollout" }, status, ...buttons, dialog, result);
  return {
    node,
    set(r) {
      node.hidden = !r;
      if (!r) return;
      const where = r.gate ? `waits at its approval gate (${r.gate})`
        : r.bake ? `bakes step ${r.bake.step} (${r.bake.state})` : "runs (a step is weighed or analysed, or it is not in its rollout)";
      const canaries = r.canaries.map(([service, weight]) => `${service} ${weight} %`).join(", ");
      status.replaceChildren(el("span", { class: "badge running" }, "rollout"), ` the deploy ${where}` +
        (canaries ? `; canaries: ${canaries}` : ""));
      // Each button's tooltip says what it does now, or why it is off.
      for (const [i, answer] of ["approve", "promote", "abort"].entries()) {
        buttons[i].disabled = !r[answer].on;
        buttons[i].title = r[answer].tip;
      }
    },
  };
}

// What each chart shows: its title, its unit, how its value is printed.
const CHARTS = {
  requests: { title: "Requests", unit: "req/s", digits: 1 },
  server_errors: { title: "Errors", unit: "5xx/s", digits: 2 },
  p99_us: { title: "Latency p99", unit: "ms", digits: 1 },
};

// A chart of a counter's rate (requests, 5xx per second) or a gauge (p99
// latency in ms) over the samples the server took: a y axis from 0 to the
// highest value with its unit, a time axis (seconds before the last
// sample), and the latest value written above it.
function chart(samples, field) {
  const spec = CHARTS[field];
  const w = 176, h = 84, left = 38, right = 6, top = 16, bottom = 16;
  const plotW = w - left - right, plotH = h - top - bottom;
  const root = svg("svg", { class: "chart " + field, width: w, height: h, "data-field": field });
  const values = [], times = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i];
    if (field === "p99_us") values.push((b.p99_us || 0) / 1000);
    else values.push(Math.max(0, b[field] - a[field]) * 1000 / Math.max(1, b.millis - a.millis));
    times.push(b.millis);
  }
  const text = (x, y, content, attrs) => {
    const t = svg("text", Object.assign({ x, y }, attrs || {}));
    t.textContent = content;
    return t;
  };
  const now = values.length ? values[values.length - 1] : null;
  root.append(text(0, 11, spec.title + ": " + (now === null ? "no samples yet" : now.toFixed(spec.digits) + " " + spec.unit),
    { class: "chart-value" }));
  const max = Math.max(0, ...values);
  const topValue = max > 0 ? max : 1;
  const y = (v) => top + plotH - (v / topValue) * plotH;
  // The axes and their labels.
  root.append(svg("line", { class: "axis", x1: left, y1: top, x2: left, y2: top + plotH }));
  root.append(svg("line", { class: "axis", x1: left, y1: top + plotH, x2: left + plotW, y2: top + plotH }));
  root.append(svg("line", { class: "grid", x1: left, y1: top, x2: left + plotW, y2: top }));
  root.append(text(left - 3, top + 4, topValue.toFixed(spec.digits), { class: "tick", "text-anchor": "end" }));
  root.append(text(left - 3, top + plotH, "0", { class: "tick", "text-anchor": "end" }));
  root.append(text(left - 3, top + plotH / 2 + 3, spec.unit, { class: "tick unit", "text-anchor": "end" }));
  if (times.length) {
    const span = Math.round((times[times.length - 1] - times[0]) / 1000);
    root.append(text(left, h - 3, "−" + span + " s", { class: "tick" }));
    root.append(text(left + plotW, h - 3, "now", { class: "tick", "text-anchor": "end" }));
  }
  if (values.length) {
    const x = (i) => left + (values.length === 1 ? plotW : (i / (values.length - 1)) * plotW);
    const points = values.map((v, i) => `${x(i)},${y(v)}`).join(" ");
    root.append(svg("polyline", { points }));
  }
  const title = svg("title", {});
  title.textContent = spec.title + " (" + spec.unit + ")" + (now === null ? "" : ": now " + now.toFixed(spec.digits) + ", highest " + max.toFixed(spec.digits));
  root.append(title);
  return root;
}
