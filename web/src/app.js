// ContextDB graph browser: a query editor over POST /api/v1/query, results as a table and — when
// the rows are nodes, edges, paths or graph-function output — as an interactive cytoscape graph.
// Everything goes through the HTTP API of the server that serves this page (same origin).
//
// Graph-shaped results: a row with `id` (and maybe `label`) is a node; a row with `src` and `dst`
// (or `from`/`to`) is an edge; shortest_path's `step, id` rows are a path (consecutive steps are
// joined); `similarity` rows add dashed similarity edges to the node they were asked for. After
// a query the edges among the nodes on screen are fetched, so a node list shows its structure.
// Nodes are coloured by label, edges by kind, edge width follows weight.
import cytoscape from "cytoscape";

const $ = (id) => document.getElementById(id);
const HISTORY_KEY = "contextdb.history";
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf", "#ff7f0e"];
const colours = new Map();

function colourOf(key) {
  if (!colours.has(key)) colours.set(key, PALETTE[colours.size % PALETTE.length]);
  return colours.get(key);
}

// ---- HTTP API -------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

async function api(method, path, body) {
  const headers = {};
  const token = $("token").value.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers,
    body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const e = json.error || {};
    throw new ApiError(resp.status, e.code || String(resp.status), e.message || resp.statusText,
      e.detail);
  }
  return json;
}

const sql = (text, params) => api("POST", "/api/v1/query", params ? { sql: text, params }
  : { sql: text });

function showError(e) {
  const box = $("error");
  if (!e) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.hidden = false;
  box.textContent = e instanceof ApiError
    ? `ERROR ${e.code}: ${e.message}${e.detail ? "\n" + e.detail : ""}` : `ERROR: ${e.message}`;
}

function setStatus(text) {
  $("status").textContent = text;
}

// ---- graph ----------------------------------------------------------------------------------

const cy = cytoscape({
  container: $("cy"),
  wheelSensitivity: 0.3,
  style: [
    { selector: "node", style: { "background-color": "data(colour)", label: "data(caption)",
      "font-size": 10, color: "#1a1a1a", "text-valign": "bottom", "text-margin-y": 3,
      width: 18, height: 18 } },
    { selector: "node:selected", style: { "border-width": 3, "border-color": "#d97706" } },
    { selector: "node.path", style: { "border-width": 3, "border-color": "#b91c1c" } },
    { selector: "edge", style: { width: "data(width)", "line-color": "data(colour)",
      "target-arrow-color": "data(colour)", "target-arrow-shape": "triangle",
      "curve-style": "bezier", "arrow-scale": 0.7, opacity: 0.8 } },
    { selector: "edge.path", style: { "line-color": "#b91c1c", "target-arrow-color": "#b91c1c",
      width: 4 } },
    { selector: "edge.similar", style: { "line-style": "dashed", "line-color": "#6b7280",
      "target-arrow-shape": "none", label: "data(caption)", "font-size": 8 } },
  ],
});
window.cy = cy; // the browser tests read the graph through this

function addNode(id, label) {
  const key = String(id);
  const existing = cy.getElementById(key);
  if (existing.nonempty()) {
    if (label !== undefined && label !== null) existing.data("caption", `${label} ${id}`);
    return existing;
  }
  const caption = label === undefined || label === null ? `${id}` : `${label} ${id}`;
  return cy.add({ group: "nodes", data: { id: key, nodeId: Number(id), label: label ?? "",
    caption, colour: colourOf(`label:${label ?? ""}`) } });
}

function addEdge(src, dst, kind, weight, extraClass) {
  const id = `${src}>${dst}:${kind}`;
  if (cy.getElementById(id).nonempty()) return;
  addNode(src);
  addNode(dst);
  const w = Number.isFinite(weight) ? weight : 1;
  cy.add({ group: "edges", classes: extraClass || "", data: { id, source: String(src),
    target: String(dst), kind, weight: w, caption: extraClass ? w.toFixed(3) : kind,
    width: Math.max(1, Math.min(8, 1 + 2 * Math.abs(w))),
    colour: colourOf(`kind:${kind}`) } });
}

function layout() {
  cy.layout({ name: "cose", animate: false, randomize: true, nodeRepulsion: 400000,
    idealEdgeLength: 80, numIter: 1000, randomSeed: 1 }).run();
  cy.fit(undefined, 30);
}

// Labels (and so colours) of nodes that were added by id only (similarity, path results).
async function fillLabels() {
  const ids = cy.nodes().filter((n) => n.data("label") === "").map((n) => n.data("nodeId"));
  if (ids.length === 0) return;
  const res = await sql(`SELECT id, label FROM nodes WHERE id IN (${ids.slice(0, 500).join(",")})`);
  for (const [id, label] of res.rows) {
    cy.getElementById(String(id)).data({ label, caption: `${label} ${id}`,
      colour: colourOf(`label:${label}`) });
  }
}

// Edges among the nodes on screen (one query, bounded).
async function fetchEdgesAmong() {
  const ids = cy.nodes().map((n) => n.data("nodeId")).filter(Number.isFinite).slice(0, 500);
  if (ids.length === 0) return;
  const list = ids.join(",");
  const res = await sql(`SELECT src, dst, kind, weight FROM edges WHERE src IN (${list}) ` +
    `AND dst IN (${list}) LIMIT 5000`);
  for (const [src, dst, kind, weight] of res.rows) addEdge(src, dst, kind, weight);
}

// Puts graph-shaped rows on the graph; returns whether any were.
function graphFromRows(columns, rows) {
  const at = (name) => columns.findIndex((c) => c.name === name);
  const id = at("id"), label = at("label"), step = at("step");
  const src = at("src") >= 0 ? at("src") : at("from"), dst = at("dst") >= 0 ? at("dst") : at("to");
  let shown = false;
  if (src >= 0 && dst >= 0) {
    for (const r of rows) addEdge(r[src], r[dst], at("kind") >= 0 ? r[at("kind")] : "",
      at("weight") >= 0 ? r[at("weight")] : 1);
    shown = rows.length > 0;
  } else if (id >= 0) {
    for (const r of rows) {
      if (Number.isFinite(r[id])) addNode(r[id], label >= 0 ? r[label] : undefined);
    }
    shown = rows.length > 0;
    if (step >= 0) markPath(rows.map((r) => r[id]));
  }
  return shown;
}

function markPath(ids) {
  cy.elements().removeClass("path");
  for (let i = 0; i < ids.length; i++) {
    addNode(ids[i]).addClass("path");
    if (i > 0) {
      const a = String(ids[i - 1]), b = String(ids[i]);
      let edges = cy.edges().filter((e) => (e.data("source") === a && e.data("target") === b) ||
        (e.data("source") === b && e.data("target") === a));
      if (edges.empty()) {
        addEdge(ids[i - 1], ids[i], "path", 1);
        edges = cy.getElementById(`${a}>${b}:path`);
      }
      edges.addClass("path");
    }
  }
}

// ---- table ----------------------------------------------------------------------------------

function cellText(v) {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function renderTable(columns, rows) {
  const head = $("results").tHead, body = $("results").tBodies[0];
  head.replaceChildren();
  body.replaceChildren();
  const tr = head.insertRow();
  for (const c of columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = c.name;
    tr.appendChild(th);
  }
  const id = columns.findIndex((c) => c.name === "id");
  for (const r of rows.slice(0, 2000)) {
    const row = body.insertRow();
    for (const v of r) row.insertCell().textContent = cellText(v);
    if (id >= 0) {
      row.tabIndex = 0;
      row.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") showNode(r[id]);
      });
    }
  }
}

function selectTab(name) {
  for (const t of ["graph", "table"]) {
    $(`tab-${t}`).setAttribute("aria-selected", String(t === name));
    $(`${t}-panel`).hidden = t !== name;
  }
  if (name === "graph") cy.resize();
}

// ---- queries --------------------------------------------------------------------------------

async function runQuery() {
  const text = $("query").value.trim();
  if (!text) return;
  showError(null);
  remember(text);
  setStatus("running…");
  const t0 = performance.now();
  try {
    const res = await sql(text);
    const ms = (performance.now() - t0).toFixed(1);
    const columns = res.columns || [];
    renderTable(columns, res.rows || []);
    const graphShaped = graphFromRows(columns, res.rows || []);
    if (graphShaped) {
      await fetchEdgesAmong();
      await fillLabels();
      layout();
    }
    selectTab(graphShaped ? "graph" : "table");
    setStatus(`${res.command} · ${res.row_count} row(s) · ${ms} ms`);
  } catch (e) {
    showError(e);
    setStatus("failed");
  }
}

function remember(text) {
  const list = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]").filter((q) => q !== text);
  list.unshift(text);
  localStorage.setItem(HISTORY_KEY, JSON.stringify(list.slice(0, 30)));
  fillHistory();
}

function fillHistory() {
  const sel = $("history");
  sel.replaceChildren(new Option("—", ""));
  for (const q of JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]")) {
    sel.add(new Option(q.length > 60 ? q.slice(0, 57) + "…" : q, q));
  }
}

// ---- node details and actions ---------------------------------------------------------------

async function showNode(id) {
  const box = $("details");
  try {
    const node = await api("GET", `/api/v1/nodes/${id}`);
    const vec = await sql("SELECT embedding FROM vectors WHERE id = $1", [id]);
    const v = vec.rows.length ? vec.rows[0][0] : null;
    box.replaceChildren();
    const dl = document.createElement("dl");
    const add = (k, val) => {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = val;
      dl.append(dt, dd);
    };
    add("id", node.id);
    add("label", node.label);
    if (Array.isArray(v)) {
      const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      add("vector", `${v.length} dims, norm ${norm.toFixed(3)}`);
      add("first", v.slice(0, 4).map((x) => x.toFixed(3)).join(", ") + (v.length > 4 ? ", …" : ""));
    } else {
      add("vector", "none");
    }
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(node.props ?? null, null, 1);
    const expand = document.createElement("button");
    expand.textContent = "Expand neighbours";
    expand.addEventListener("click", () => act("expand", id));
    box.append(dl, pre, expand);
  } catch (e) {
    showError(e);
  }
}

async function act(action, id) {
  showError(null);
  try {
    if (action === "expand") {
      const res = await api("GET", `/api/v1/nodes/${id}/related?depth=1&direction=both`);
      for (const r of res.related) addNode(r.id, r.label);
      await fetchEdgesAmong();
    } else if (action === "similar") {
      const res = await api("GET", `/api/v1/vectors/${id}/similar?k=5`);
      for (const r of res.similar) {
        addNode(r.id);
        addEdge(id, r.id, "similar", r.similarity, "similar");
      }
    } else if (action === "path") {
      const to = window.prompt(`Shortest path from ${id} to node id:`);
      if (!to) return;
      const res = await api("GET", `/api/v1/shortest_path?from=${id}&to=${encodeURIComponent(to)}`);
      if (!res.found) throw new Error(`no path from ${id} to ${to}`);
      for (const p of res.path) addNode(p.id, p.label);
      markPath(res.path.map((p) => p.id));
    } else if (action === "hybrid") {
      const res = await api("POST", "/api/v1/query/hybrid", { node_id: id, depth: 2, top_k: 5 });
      for (const r of res.results) {
        addNode(r.id, r.label);
        addEdge(id, r.id, "similar", r.similarity, "similar");
      }
    }
    await fillLabels();
    layout();
  } catch (e) {
    showError(e);
  }
}

// Right-click menu, keyboard reachable (Escape closes, arrows move).
let menuNode = null;
function openMenu(node, x, y) {
  menuNode = node.data("nodeId");
  const menu = $("menu");
  menu.style.left = `${x}px`;
  menu.style.top = `${y}px`;
  menu.hidden = false;
  menu.querySelector("li").focus();
}

function closeMenu() {
  $("menu").hidden = true;
  menuNode = null;
}

// ---- cluster and metrics panels -------------------------------------------------------------

let lastSample = null;
async function refreshPanels() {
  try {
    const members = await sql("SELECT * FROM cluster_members ORDER BY id");
    const col = (n) => members.columns.findIndex((c) => c.name === n);
    const body = $("cluster").tBodies[0];
    body.replaceChildren();
    for (const r of members.rows) {
      const tr = body.insertRow();
      for (const n of ["id", "role", "term", "applied_index", "lag"]) {
        tr.insertCell().textContent = col(n) >= 0 ? cellText(r[col(n)]) : "";
      }
    }
    const m = await api("GET", "/api/v1/metrics");
    const sum = (prefix) => Object.entries(m.metrics).filter(([k]) => k === prefix ||
      k.startsWith(prefix + "{")).reduce((s, [, v]) => s + v, 0);
    const now = { t: m.uptime_seconds, stmts: sum("contextdb_statements_total"),
      lat: sum("contextdb_statement_duration_seconds_sum"),
      n: sum("contextdb_statement_duration_seconds_count") };
    const dl = $("metrics");
    dl.replaceChildren();
    const add = (k, v) => {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = v;
      dl.append(dt, dd);
    };
    add("nodes", m.counts.nodes);
    add("edges", m.counts.edges);
    add("vectors", m.counts.vectors);
    add("snapshots", `${m.counts.snapshots} (uploaded ${sum("contextdb_snapshots_uploaded")})`);
    if (lastSample && now.t > lastSample.t) {
      const dt = now.t - lastSample.t;
      add("QPS", ((now.stmts - lastSample.stmts) / dt).toFixed(1));
      const dn = now.n - lastSample.n;
      add("mean latency", dn > 0 ? `${((now.lat - lastSample.lat) / dn * 1000).toFixed(2)} ms`
        : "—");
    }
    add("WAL bytes", sum("contextdb_wal_bytes"));
    add("HNSW vectors", sum("contextdb_hnsw_vectors"));
    add("uptime", `${Math.round(m.uptime_seconds)} s`);
    lastSample = now;
  } catch (e) {
    setStatus(`panels: ${e.message}`);
  }
}

// ---- wiring ---------------------------------------------------------------------------------

$("run").addEventListener("click", runQuery);
$("query").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    runQuery();
  }
});
$("clear").addEventListener("click", () => cy.elements().remove());
$("history").addEventListener("change", (ev) => {
  if (ev.target.value) $("query").value = ev.target.value;
});
$("tab-graph").addEventListener("click", () => selectTab("graph"));
$("tab-table").addEventListener("click", () => selectTab("table"));
cy.on("tap", "node", (ev) => showNode(ev.target.data("nodeId")));
cy.on("dbltap", "node", (ev) => act("expand", ev.target.data("nodeId")));
cy.on("cxttap", "node", (ev) => openMenu(ev.target, ev.renderedPosition.x, ev.renderedPosition.y));
cy.on("tap", (ev) => {
  if (ev.target === cy) closeMenu();
});
$("menu").addEventListener("click", (ev) => {
  const action = ev.target.dataset.action;
  const id = menuNode;
  closeMenu();
  if (action && id !== null) act(action, id);
});
$("menu").addEventListener("keydown", (ev) => {
  const items = [...$("menu").querySelectorAll("li")];
  const i = items.indexOf(document.activeElement);
  if (ev.key === "Escape") closeMenu();
  else if (ev.key === "ArrowDown") items[(i + 1) % items.length].focus();
  else if (ev.key === "ArrowUp") items[(i + items.length - 1) % items.length].focus();
  else if (ev.key === "Enter") document.activeElement.click();
});
// Keyboard on the graph: Tab focuses it, n / p select the next / previous node, Enter shows it,
// m opens its menu.
$("cy").addEventListener("keydown", (ev) => {
  const nodes = cy.nodes().sort((a, b) => a.data("nodeId") - b.data("nodeId"));
  if (nodes.empty()) return;
  const cur = cy.nodes(":selected");
  let i = cur.nonempty() ? nodes.indexOf(cur[0]) : -1;
  if (ev.key === "n" || ev.key === "p") {
    i = ev.key === "n" ? (i + 1) % nodes.length : (i + nodes.length - 1) % nodes.length;
    cy.nodes().unselect();
    nodes[i].select();
  } else if (ev.key === "Enter" && i >= 0) {
    showNode(nodes[i].data("nodeId"));
  } else if (ev.key === "m" && i >= 0) {
    const p = nodes[i].renderedPosition();
    openMenu(nodes[i], p.x, p.y);
  }
});

fillHistory();
refreshPanels();
setInterval(refreshPanels, 5000);
if (new URLSearchParams(location.search).has("run")) runQuery();
