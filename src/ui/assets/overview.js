// The overview page (#/): jobs by status, runs and failures per minute over the last
// hour (SVG charts), queue depth by type, and the nodes with their workers.

import { REFRESH_MS, STATUSES, ago, api, badge, esc, every, failed, healthBar, main, num, when } from "./core.js";

export async function overview(current) {
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
