// The workers page (#/workers): every worker with its load, health score (and why it
// is under 1), health history as a sparkline and restarts; crash buttons where the
// node allows them.

import {
  REFRESH_MS, ago, api, badge, canWrite, confirmDialog, esc, every, failed, healthBar, healthReason, main, post,
  session, short, toast,
} from "./core.js";

const healthSeen = new Map(); // worker id -> its health scores, oldest first

export async function workersPage(current) {
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
