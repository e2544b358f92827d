// The jobs page (#/jobs) and the dead letters (#/dead-letters, the same page fixed to
// DEAD_LETTER): filters, keyset paging, and actions on a selection or on everything
// matching the filter.

import { ACTIONS, bulk } from "./actions.js";
import { STATUSES, api, app, badge, canWrite, esc, failed, main, short, when } from "./core.js";

const RANGES = { "": "any time", "15m": "last 15 minutes", "1h": "last hour", "24h": "last 24 hours", "7d": "last 7 days" };
const RANGE_MS = { "15m": 9e5, "1h": 36e5, "24h": 864e5, "7d": 6048e5 };

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

export async function jobsPage(params, current, { deadLetters = false }) {
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
  const rerun = () => app.route();
  main.querySelectorAll("button.sel").forEach((b) => {
    b.onclick = () => bulk(b.dataset.action, { job_ids: selected() }, `${selected().length} selected job(s)`, rerun);
  });
  main.querySelectorAll("button.bulk").forEach((b) => {
    b.onclick = () => bulk(b.dataset.action, { filter }, "every job matching the filter", rerun);
  });
}
