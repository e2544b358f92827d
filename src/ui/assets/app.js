// The Aeon dashboard: one ES module, no dependencies, no build step. It reads and
// writes only through the public /v1 API, with the token kept in sessionStorage
// (never in a URL). Pages are hash routes: #/, #/jobs?…, #/jobs/<id>,
// #/dead-letters?…, #/workers. See docs/dashboard.md.

const REFRESH_MS = 3000;
const TOKEN_KEY = "aeon.token";
const STATUSES = ["WAITING", "PENDING", "RUNNING", "COMPLETED", "DEAD_LETTER", "CANCELLED"];
const RANGES = { "": "any time", "15m": "last 15 minutes", "1h": "last hour", "24h": "last 24 hours", "7d": "last 7 days" };
const RANGE_MS = { "15m": 9e5, "1h": 36e5, "24h": 864e5, "7d": 6048e5 };
const ACTIONS = {
  cancel: { label: "Cancel", fits: ["WAITING", "PENDING", "RUNNING"], verb: "cancel" },
  retry_now: { label: "Retry now", fits: ["PENDING"], verb: "make due now" },
  requeue: { label: "Requeue", fits: ["DEAD_LETTER"], verb: "requeue" },
};

const main = document.getElementById("main");
let session = null; // {access, allow_crash, node_id}
let timer = null;
let renderId = 0;
const healthSeen = new Map(); // worker id -> its health scores, oldest first

// --- API --------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const e = body && body.error;
    super(e ? `${e.message}${e.field ? ` (${e.field})` : ""}` : `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    cache: "no-store",
  });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

const post = (path, body) => api(path, { method: "POST", body });

// --- helpers ----------------------------------------------------------------------

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

const canWrite = () => session && session.access === "write";
const short = (id) => String(id).slice(0, 8) + "…" + String(id).slice(-4);
const badge = (status) => `<span class="badge s-${esc(status)}">${esc(status)}</span>`;
const num = (n) => Number(n || 0).toLocaleString("en-US");

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString("sv-SE", { hour12: false }).replace("T", " ");
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.max(s, 0)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

function duration(from, to) {
  if (!from || !to) return "";
  const ms = new Date(to) - new Date(from);
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function toast(message, kind = "ok") {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = kind;
  el.hidden = false;
  clearTimeout(toast.t);
  toast.t = setTimeout(() => { el.hidden = true; }, 6000);
}

function confirmDialog(text, go) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  const goButton = document.getElementById("confirm-go");
  goButton.textContent = go;
  return new Promise((resolve) => {
    const done = (answer) => {
      goButton.onclick = null;
      document.getElementById("confirm-cancel").onclick = null;
      dialog.close();
      resolve(answer);
    };
    goButton.onclick = () => done(true);
    document.getElementById("confirm-cancel").onclick = () => done(false);
    dialog.showModal();
  });
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  return { path, params: new URLSearchParams(query || "") };
}

function every(ms, fn) {
  clearInterval(timer);
  timer = setInterval(fn, ms);
}

function failed(e) {
  if (e instanceof ApiError && e.status === 401) return login("The token was refused.");
  main.innerHTML = `<div class="error-box">${esc(e.message)}</div>`;
}

// --- access -----------------------------------------------------------------------

function login(message) {
  clearInterval(timer);
  document.getElementById("session").textContent = "";
  main.innerHTML = `
    <form id="login-form" class="card narrow">
      <h2>This node needs a token</h2>
      <p class="muted">It is kept in this browser tab only (sessionStorage) and sent as a bearer token.</p>
      ${message ? `<p class="error-text">${esc(message)}</p>` : ""}
      <label>Token <input id="token" type="password" autocomplete="off" required></label>
      <button id="login-go" type="submit">Open the dashboard</button>
    </form>`;
  document.getElementById("login-form").onsubmit = (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    start();
  };
}

async function start() {
  try {
    session = await api("/v1/session");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      const had = sessionStorage.getItem(TOKEN_KEY);
      sessionStorage.removeItem(TOKEN_KEY);
      return login(had ? "The token was refused." : "");
    }
    return failed(e);
  }
  document.body.classList.toggle("read-only", !canWrite());
  document.getElementById("session").innerHTML =
    `node <b>${esc(session.node_id)}</b> · ${canWrite() ? "read-write" : '<span class="badge ro">read-only</span>'}`;
  document.getElementById("logout").hidden = !sessionStorage.getItem(TOKEN_KEY);
  route();
}

document.getElementById("logout").onclick = () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
};

// --- router -----------------------------------------------------------------------

function route() {
  if (!session) return;
  clearInterval(timer);
  const id = ++renderId;
  const { path, params } = parseHash();
  const page = path === "/" ? "overview" : path.split("/")[1];
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === page));
  const current = () => id === renderId;
  if (path === "/") return overview(current);
  if (path === "/jobs") return jobsPage(params, current, {});
  if (path.startsWith("/jobs/")) return jobDetail(decodeURIComponent(path.slice(6)), current);
  if (path === "/dead-letters") return jobsPage(params, current, { deadLetters: true });
  if (path === "/workers") return workersPage(current);
  main.innerHTML = `<p>No such page. <a href="#/">Overview</a></p>`;
}

window.addEventListener("hashchange", route);

// A read-only token sees no control that would change anything: they are removed,
// not just hidden (the API refuses such writes with 403 anyway).
new MutationObserver(() => {
  if (session && !canWrite()) main.querySelectorAll(".write").forEach((el) => el.remove());
}).observe(main, { childList: true, subtree: true });

// --- overview ---------------------------------------------------------------------

async function overview(current) {
  main.innerHTML = `
    <h1>Overview <span id="refreshed" class="muted small"></span></h1>
    <section id="status-counts" class="counts"></section>
    <div class="grid2">
      <section class="card"><h2>Runs per minute, last hour</h2><div id="chart-throughput" class="chart"></div>
        <p class="legend"><i class="sw ok"></i>succeeded <i class="sw bad"></i>failed attempts</p></section>
      <section class="card"><h2>Failure rate, last hour</h2><div id="chart-failures" class="chart"></div>
        <p class="legend"><i class="sw bad"></i>failed attempts / all attempts, per minute</p></section>
    </div>
    <div class="grid2">
      <section class="card"><h2>Queue depth by type</h2><div id="queue-depth"></div></section>
      <section class="card"><h2>Nodes and workers</h2><div id="workers-summary"></div></section>
    </div>`;
  const load = async () => {
    try {
      const [stats, history, workers] = await Promise.all([api("/v1/stats"), api("/v1/stats/history"), api("/v1/workers")]);
      if (!current()) return;
      document.getElementById("status-counts").innerHTML = STATUSES.map((s) => `
        <a class="count-card" data-status="${s}" href="#/jobs?status=${s}">
          <span class="count">${num(stats.jobs[s])}</span>${badge(s)}</a>`).join("") +
        `<div class="count-card plain"><span class="count">${num(stats.completed_last_minute)}</span>completed, last minute</div>`;
      const minutes = history.minutes;
      document.getElementById("chart-throughput").innerHTML = barChart(minutes);
      document.getElementById("chart-failures").innerHTML = rateChart(minutes);
      const depth = Object.entries(history.pending_by_type);
      const most = Math.max(1, ...depth.map(([, n]) => n));
      document.getElementById("queue-depth").innerHTML = depth.length === 0
        ? `<p class="muted">No job is waiting to run.</p>`
        : `<table class="depth">${depth.map(([type, n]) => `<tr>
            <td><a href="#/jobs?status=PENDING&type=${encodeURIComponent(type)}">${esc(type)}</a></td>
            <td class="num">${num(n)}</td><td class="bar-cell"><span class="bar" style="width:${(100 * n / most).toFixed(1)}%"></span></td></tr>`).join("")}</table>`;
      document.getElementById("workers-summary").innerHTML = workersSummary(workers);
      document.getElementById("refreshed").textContent = `· refreshed ${new Date().toLocaleTimeString("en-GB")}`;
    } catch (e) {
      if (current()) failed(e);
    }
  };
  await load();
  every(REFRESH_MS, load);
}

function workersSummary(workers) {
  if (workers.length === 0) return `<p class="muted">No worker has registered.</p>`;
  const nodes = new Map();
  for (const w of workers) {
    if (!nodes.has(w.node_id)) nodes.set(w.node_id, []);
    nodes.get(w.node_id).push(w);
  }
  // A node's earlier processes leave rows (STOPPED, DEAD, FAILED): count only the
  // workers in service, or a restarted node shows "3/8 active" for its 4 workers.
  const inService = (w) => ["STARTING", "ACTIVE", "UNHEALTHY"].includes(w.status);
  return `<table><tr><th>node</th><th>workers</th><th>load</th><th>health</th><th>last heartbeat</th></tr>
    ${[...nodes].map(([node, all]) => {
      const ws = all.filter(inService);
      if (ws.length === 0) return `<tr><td>${esc(node)}</td><td>none in service</td><td>–</td><td>–</td><td>${ago(all.map((w) => w.last_heartbeat).filter(Boolean).sort().pop())}</td></tr>`;
      const active = ws.filter((w) => w.status === "ACTIVE").length;
      const load = ws.reduce((a, w) => a + w.current_load, 0);
      const capacity = ws.reduce((a, w) => a + w.capacity, 0);
      const worst = ws.reduce((a, w) => (w.health_score < a.health_score ? w : a));
      const beat = ws.map((w) => w.last_heartbeat).filter(Boolean).sort().pop();
      return `<tr><td>${esc(node)}</td><td>${active}/${ws.length} active</td><td>${load}/${capacity}</td>
        <td title="${esc(worst.health_reason || "")}">${healthBar(worst.health_score)}</td><td>${ago(beat)}</td></tr>`;
    }).join("")}</table>`;
}

// Why a worker's score is what it is (the API's health_reason), under its bar.
function healthReason(reason) {
  return reason ? `<div class="health-reason small muted" title="${esc(reason)}">${esc(reason)}</div>` : "";
}

function healthBar(score) {
  const kind = score >= 0.8 ? "ok" : score >= 0.5 ? "warn" : "bad";
  return `<span class="health ${kind}"><span style="width:${(score * 100).toFixed(0)}%"></span></span> ${Number(score).toFixed(2)}`;
}

// SVG charts: 60 one-minute slots, built from numbers only.
const W = 600, H = 160, PAD = 36;

function axes(max, unit) {
  const y = (v) => H - PAD - (v / max) * (H - 2 * PAD);
  const ticks = [0, max / 2, max].map((v) =>
    `<line class="grid" x1="${PAD}" x2="${W - 4}" y1="${y(v)}" y2="${y(v)}"/>
     <text x="${PAD - 4}" y="${y(v) + 4}" text-anchor="end">${unit(v)}</text>`).join("");
  return ticks + `<text x="${PAD}" y="${H - 8}">-60 min</text><text x="${W - 4}" y="${H - 8}" text-anchor="end">now</text>`;
}

function barChart(minutes) {
  const max = Math.max(1, ...minutes.map((m) => m.succeeded + m.failed));
  const step = (W - PAD - 4) / minutes.length;
  const y = (v) => (v / max) * (H - 2 * PAD);
  const bars = minutes.map((m, i) => {
    const x = PAD + i * step;
    const ok = y(m.succeeded), bad = y(m.failed);
    return `<g><title>${esc(when(m.at))}: ${m.succeeded} succeeded, ${m.failed} failed</title>
      <rect class="ok" x="${x.toFixed(1)}" y="${(H - PAD - ok).toFixed(1)}" width="${(step - 1).toFixed(1)}" height="${ok.toFixed(1)}"/>
      <rect class="bad" x="${x.toFixed(1)}" y="${(H - PAD - ok - bad).toFixed(1)}" width="${(step - 1).toFixed(1)}" height="${bad.toFixed(1)}"/></g>`;
  }).join("");
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="runs per minute">${axes(max, (v) => Math.round(v))}${bars}</svg>`;
}

function rateChart(minutes) {
  const step = (W - PAD - 4) / minutes.length;
  const points = minutes.map((m, i) => {
    const all = m.succeeded + m.failed;
    const rate = all === 0 ? 0 : m.failed / all;
    return `${(PAD + i * step + step / 2).toFixed(1)},${(H - PAD - rate * (H - 2 * PAD)).toFixed(1)}`;
  });
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="failure rate">${axes(1, (v) => `${Math.round(v * 100)}%`)}
    <polyline class="rate" points="${points.join(" ")}"/></svg>`;
}

// --- jobs and dead letters --------------------------------------------------------

function filterFrom(params, deadLetters) {
  const filter = {};
  for (const key of ["status", "type", "search"]) if (params.get(key)) filter[key] = params.get(key);
  if (deadLetters) filter.status = "DEAD_LETTER";
  const range = params.get("range");
  if (RANGE_MS[range]) filter.since = new Date(Date.now() - RANGE_MS[range]).toISOString();
  for (const key of ["since", "until"]) {
    if (params.get(key)) filter[key] = new Date(params.get(key)).toISOString();
  }
  return filter;
}

async function jobsPage(params, current, { deadLetters = false }) {
  const base = deadLetters ? "#/dead-letters" : "#/jobs";
  const filter = filterFrom(params, deadLetters);
  const cursor = params.get("cursor") || "";
  const query = new URLSearchParams({ ...filter, limit: "50", ...(cursor ? { cursor } : {}) });
  const actions = deadLetters ? ["requeue"] : Object.keys(ACTIONS);
  main.innerHTML = `
    <h1>${deadLetters ? "Dead letters" : "Jobs"}</h1>
    <form id="filter" class="filters">
      ${deadLetters ? "" : `<label>Status <select name="status"><option value="">any</option>
        ${STATUSES.map((s) => `<option ${params.get("status") === s ? "selected" : ""}>${s}</option>`).join("")}</select></label>`}
      <label>Type <input name="type" value="${esc(params.get("type"))}" placeholder="any" size="12"></label>
      <label>Created <select name="range">${Object.entries(RANGES).map(([k, v]) =>
        `<option value="${k}" ${params.get("range") === k ? "selected" : ""}>${v}</option>`).join("")}</select></label>
      <label>From <input name="since" type="datetime-local" value="${esc(params.get("since"))}"></label>
      <label>To <input name="until" type="datetime-local" value="${esc(params.get("until"))}"></label>
      <label>Search <input name="search" value="${esc(params.get("search"))}" placeholder="payload or error text" size="18"></label>
      <button id="apply-filter" type="submit">Filter</button>
      <a class="button link" href="${base}">Clear</a>
    </form>
    <p class="muted small">Newest first. A search reads the jobs of the time range (the last 24 hours when none is set).</p>
    <div class="write bulk-bar">
      <span>Selected: <b id="selected-count">0</b></span>
      ${actions.map((a) => `<button type="button" id="sel-${a}" data-action="${a}" class="sel" disabled>${ACTIONS[a].label} selected</button>`).join("")}
      <span class="sep"></span>
      ${actions.map((a) => `<button type="button" id="bulk-${a}" data-action="${a}" class="bulk">${ACTIONS[a].label} all matching…</button>`).join("")}
    </div>
    <table id="jobs-table" class="jobs"><thead><tr>
      <th class="write"><input type="checkbox" id="select-all" title="select this page"></th>
      <th>job</th><th>type</th><th>status</th><th>attempts</th><th>created</th><th>error</th></tr></thead>
      <tbody><tr><td colspan="7" class="muted">Loading…</td></tr></tbody></table>
    <div class="pager"><button id="prev-page" type="button" ${cursor ? "" : "disabled"}>← Newer</button>
      <button id="next-page" type="button" disabled>Older →</button></div>`;

  document.getElementById("filter").onsubmit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const next = new URLSearchParams();
    for (const [k, v] of form) if (v) next.set(k, v);
    location.hash = `${base}?${next}`;
  };
  const pageHistory = JSON.parse(sessionStorage.getItem("aeon.pages") || "[]");
  document.getElementById("prev-page").onclick = () => {
    const back = new URLSearchParams(params);
    const previous = pageHistory.pop();
    sessionStorage.setItem("aeon.pages", JSON.stringify(pageHistory));
    if (previous) back.set("cursor", previous); else back.delete("cursor");
    location.hash = `${base}?${back}`;
  };

  let page;
  try {
    page = await api(`/v1/jobs?${query}`);
  } catch (e) {
    if (current()) failed(e);
    return;
  }
  if (!current()) return;
  const jobs = page.jobs;
  const tbody = main.querySelector("#jobs-table tbody");
  tbody.innerHTML = jobs.length === 0
    ? `<tr><td colspan="7" class="muted">No job matches.</td></tr>`
    : jobs.map((j) => `<tr data-job-id="${esc(j.job_id)}" data-status="${esc(j.status)}">
        <td class="write"><input type="checkbox" class="select-job" value="${esc(j.job_id)}"></td>
        <td><a class="mono" href="#/jobs/${esc(j.job_id)}">${esc(short(j.job_id))}</a></td>
        <td>${esc(j.type)}</td><td>${badge(j.status)}</td><td class="num">${j.attempts}/${j.max_retries + 1}</td>
        <td>${esc(when(j.created_at))}</td><td class="err">${esc((j.error || "").slice(0, 120))}</td></tr>`).join("");

  const next = document.getElementById("next-page");
  next.disabled = !page.next_cursor;
  next.onclick = () => {
    pageHistory.push(cursor);
    sessionStorage.setItem("aeon.pages", JSON.stringify(pageHistory));
    const forward = new URLSearchParams(params);
    forward.set("cursor", page.next_cursor);
    location.hash = `${base}?${forward}`;
  };
  if (!cursor) sessionStorage.setItem("aeon.pages", "[]");
  if (!canWrite()) return;

  const selected = () => [...main.querySelectorAll(".select-job:checked")].map((c) => c.value);
  const refreshSelection = () => {
    const ids = selected();
    document.getElementById("selected-count").textContent = ids.length;
    main.querySelectorAll("button.sel").forEach((b) => { b.disabled = ids.length === 0; });
  };
  main.querySelectorAll(".select-job").forEach((c) => { c.onchange = refreshSelection; });
  document.getElementById("select-all").onchange = (event) => {
    main.querySelectorAll(".select-job").forEach((c) => { c.checked = event.target.checked; });
    refreshSelection();
  };
  const rerun = () => route();
  main.querySelectorAll("button.sel").forEach((b) => {
    b.onclick = () => bulk(b.dataset.action, { job_ids: selected() }, `${selected().length} selected job(s)`, rerun);
  });
  main.querySelectorAll("button.bulk").forEach((b) => {
    b.onclick = () => bulk(b.dataset.action, { filter }, "every job matching the filter", rerun);
  });
}

// Preview on the server, confirm, run in batches on the server, report.
async function bulk(action, target, what, then) {
  const spec = ACTIONS[action];
  try {
    const preview = await post("/v1/jobs/bulk", { action, ...target, preview: true });
    if (preview.matched === 0) {
      toast(`Nothing to ${spec.verb}: no ${spec.fits.join("/")} job among ${what}.`, "warn");
      return;
    }
    const count = `${num(preview.matched)}${preview.capped ? "+" : ""}`;
    const go = await confirmDialog(
      `${spec.label}: this will ${spec.verb} ${count} job(s) (${spec.fits.join(", ")}) — ${what}.`,
      `${spec.label} ${count} job(s)`);
    if (!go) return;
    const done = await post("/v1/jobs/bulk", { action, ...target });
    toast(`${spec.label}: ${num(done.changed)} job(s) changed in ${done.batches} batch(es).`);
    then();
  } catch (e) {
    toast(e.message, "bad");
  }
}

// --- job detail -------------------------------------------------------------------

async function jobDetail(jobId, current) {
  main.innerHTML = `<p class="muted">Loading…</p>`;
  const load = async () => {
    let job, workers;
    try {
      [job, workers] = await Promise.all([api(`/v1/jobs/${encodeURIComponent(jobId)}`), api("/v1/workers")]);
    } catch (e) {
      if (current()) failed(e);
      return;
    }
    const neighbours = [...job.depends_on, ...(job.dependents || [])].slice(0, 24);
    const others = await Promise.all(neighbours.map((id) => api(`/v1/jobs/${id}`).catch(() => null)));
    if (!current()) return;
    const nodeOf = new Map(workers.map((w) => [w.worker_id, w.node_id]));
    const status = new Map(others.filter(Boolean).map((o) => [o.job_id, o]));
    const actions = Object.entries(ACTIONS).filter(([, a]) => a.fits.includes(job.status));
    main.innerHTML = `
      <h1>Job <span class="mono">${esc(job.job_id)}</span></h1>
      <section id="job-detail" class="card">
        <div class="facts">
          <div><label>status</label><span id="job-status">${badge(job.status)}</span></div>
          <div><label>type</label>${esc(job.type)}</div>
          <div><label>attempts</label>${job.attempts} of ${job.max_retries + 1}</div>
          <div><label>priority</label>${job.priority}</div>
          <div><label>timeout</label>${job.timeout_ms} ms</div>
          <div><label>created</label>${esc(when(job.created_at))}</div>
          <div><label>scheduled</label>${esc(when(job.scheduled_at))}</div>
          <div><label>completed</label>${esc(when(job.completed_at)) || "—"}</div>
        </div>
        <div class="write job-actions">${actions.map(([a, s]) =>
          `<button type="button" id="job-${a}" data-action="${a}">${s.label}</button>`).join("")}</div>
      </section>
      ${job.error ? `<section class="card"><h2>Error</h2><pre class="err">${esc(job.error)}</pre></section>` : ""}
      <div class="grid2">
        <section class="card"><h2>Payload</h2><pre id="payload">${esc(JSON.stringify(job.payload, null, 2))}</pre></section>
        <section class="card"><h2>Result</h2><pre id="result">${job.result == null ? "—" : esc(JSON.stringify(job.result, null, 2))}</pre></section>
      </div>
      <section class="card"><h2>Attempts</h2>
        <table id="attempts"><thead><tr><th>#</th><th>status</th><th>worker</th><th>node</th><th>started</th><th>duration</th><th>error</th></tr></thead>
        <tbody>${(job.executions || []).map((e) => `<tr>
          <td>${e.attempt}</td><td>${badge(e.execution_status)}</td><td class="mono">${esc(short(e.worker_id))}</td>
          <td>${esc(nodeOf.get(e.worker_id) || "?")}</td><td>${esc(when(e.started_at))}</td>
          <td>${esc(duration(e.started_at, e.finished_at))}</td><td class="err">${esc(e.error || "")}</td></tr>`).join("")
          || `<tr><td colspan="7" class="muted">No attempt yet.</td></tr>`}</tbody></table></section>
      <section class="card"><h2>Dependencies</h2><div id="dep-graph">${depGraph(job, status)}</div></section>`;
    main.querySelectorAll(".job-actions button").forEach((b) => {
      b.onclick = () => bulk(b.dataset.action, { job_ids: [job.job_id] }, "this job", load);
    });
    if (["COMPLETED", "DEAD_LETTER", "CANCELLED"].includes(job.status)) clearInterval(timer);
  };
  await load();
  every(REFRESH_MS, load);
}

// The job in the middle, what it waits for on the left, what waits for it on the right.
function depGraph(job, others) {
  const left = job.depends_on, right = job.dependents || [];
  if (left.length === 0 && right.length === 0) return `<p class="muted">No dependency either way.</p>`;
  const rows = Math.max(left.length, right.length, 1);
  const h = Math.max(70, rows * 44 + 16), w = 720, bw = 200, bh = 32;
  const ys = (n) => Array.from({ length: n }, (_, i) => ((i + 0.5) * h) / n);
  const box = (id, x, y, me) => {
    const o = me ? job : others.get(id);
    const st = o ? o.status : "?";
    return `<a href="#/jobs/${esc(id)}"><g class="node s-${esc(st)}${me ? " me" : ""}">
      <rect x="${x}" y="${y - bh / 2}" width="${bw}" height="${bh}" rx="6"/>
      <text x="${x + 8}" y="${y - 2}">${esc(o ? o.type : "")} ${esc(short(id))}</text>
      <text x="${x + 8}" y="${y + 11}" class="st">${esc(st)}</text></g></a>`;
  };
  const cx = (w - bw) / 2, cy = h / 2;
  const edge = (x1, y1, x2, y2) => `<path class="edge" d="M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}" marker-end="url(#arrow)"/>`;
  const parts = [];
  ys(left.length).forEach((y, i) => { parts.push(edge(10 + bw, y, cx, cy)); parts.push(box(left[i], 10, y)); });
  ys(right.length).forEach((y, i) => { parts.push(edge(cx + bw, cy, w - bw - 10, y)); parts.push(box(right[i], w - bw - 10, y)); });
  parts.push(box(job.job_id, cx, cy, true));
  return `<svg viewBox="0 0 ${w} ${h}" role="img" aria-label="dependencies">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto">
      <path d="M0,0 L10,5 L0,10 z"/></marker></defs>${parts.join("")}</svg>
    <p class="muted small">Left: what this job waits for. Right: what waits for it.</p>`;
}

// --- workers ----------------------------------------------------------------------

async function workersPage(current) {
  main.innerHTML = `<h1>Workers and nodes <span id="refreshed" class="muted small"></span></h1>
    <div id="workers"></div>
    <p class="muted small">Health: 1 is a worker that runs its jobs without crashing, heartbeats on time and is neither slow nor full; under the score, why it is lower.
    A job's own failures (its handler returned an error) do not count against the worker that ran it; crashes, timeouts and missed heartbeats do.
    Health history: the worker's logged health scores (written when the score moves, or once a minute), then its current one.
    Crash buttons appear only on a node with <code>experiments.allow_crash</code>, for its own workers.</p>`;
  const load = async () => {
    let workers;
    try {
      workers = await api("/v1/workers");
    } catch (e) {
      if (current()) failed(e);
      return;
    }
    // Each worker's health score history from worker_health_logs (one indexed read
    // per worker, for the first 50).
    const histories = await Promise.all(workers.slice(0, 50).map((w) =>
      api(`/v1/workers/${w.worker_id}/health`).then((h) => h.samples.map((s) => s.value)).catch(() => null)));
    if (!current()) return;
    workers.slice(0, 50).forEach((w, i) => {
      if (histories[i]) healthSeen.set(w.worker_id, [...histories[i], w.health_score]);
    });
    const crash = canWrite() && session.allow_crash;
    document.getElementById("workers").innerHTML = `<table id="workers-table"><thead><tr>
      <th>worker</th><th>node</th><th>status</th><th>load</th><th>health</th><th>history</th><th>restarts</th><th>last heartbeat</th>
      ${crash ? "<th>crash</th>" : ""}</tr></thead><tbody>
      ${workers.map((w) => `<tr data-worker-id="${esc(w.worker_id)}">
        <td class="mono">${esc(short(w.worker_id))}</td><td>${esc(w.node_id)}</td><td>${badge(w.status)}</td>
        <td>${w.current_load}/${w.capacity}</td><td>${healthBar(w.health_score)}${healthReason(w.health_reason)}</td>
        <td>${sparkline(healthSeen.get(w.worker_id))}</td><td class="num">${w.failure_count}</td><td>${ago(w.last_heartbeat)}</td>
        ${crash ? `<td>${w.node_id === session.node_id && w.status === "ACTIVE" ? ["panic", "hang", "slow"].map((m) =>
          `<button type="button" class="crash small danger" data-worker="${esc(w.worker_id)}" data-mode="${m}">${m}</button>`).join("") : ""}</td>` : ""}
      </tr>`).join("") || `<tr><td colspan="9" class="muted">No worker has registered.</td></tr>`}</tbody></table>`;
    main.querySelectorAll("button.crash").forEach((b) => {
      b.onclick = async () => {
        if (!(await confirmDialog(`Crash worker ${short(b.dataset.worker)} (${b.dataset.mode})?`, "Crash it"))) return;
        try {
          const body = b.dataset.mode === "slow" ? { mode: "slow", ms: 500 } : { mode: b.dataset.mode };
          await post(`/v1/workers/${b.dataset.worker}/crash`, body);
          toast(`Worker ${short(b.dataset.worker)} told to ${b.dataset.mode}.`);
        } catch (e) {
          toast(e.message, "bad");
        }
      };
    });
    document.getElementById("refreshed").textContent = `· refreshed ${new Date().toLocaleTimeString("en-GB")}`;
  };
  await load();
  every(REFRESH_MS, load);
}

function sparkline(values) {
  if (!values || values.length < 2) return `<span class="muted small">—</span>`;
  const w = 90, h = 20;
  const points = values.map((v, i) => `${((i / (values.length - 1)) * w).toFixed(1)},${(h - v * (h - 2) - 1).toFixed(1)}`);
  return `<svg class="spark" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}"><polyline points="${points.join(" ")}"/></svg>`;
}

start();
