// The job page (#/jobs/<id>): its facts, payload, result, error, every attempt, the
// actions that fit its status, and its dependencies either way as a small graph.

import { ACTIONS, bulk } from "./actions.js";
import { REFRESH_MS, api, badge, duration, esc, every, failed, main, short, stopRefresh, when } from "./core.js";

export async function jobDetail(jobId, current) {
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
    if (["COMPLETED", "DEAD_LETTER", "CANCELLED"].includes(job.status)) stopRefresh();
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
