// Shared by every page of the dashboard: the API client, the session, the refresh
// timer, formatting helpers, the toast and the confirm dialog. A module of its own so
// that no page imports another page, and none imports app.js (the router).

export const REFRESH_MS = 3000;
export const TOKEN_KEY = "aeon.token";
export const STATUSES = ["WAITING", "PENDING", "RUNNING", "COMPLETED", "DEAD_LETTER", "CANCELLED"];

export const main = document.getElementById("main");
// The session, {access, allow_crash, node_id}: null until the token is accepted. An
// exported `let` is a live binding, so every page reads the current one.
export let session = null;
export const setSession = (value) => { session = value; };
let timer = null;

// The router and the login form (app.js), for the pages that rerun the current page
// or ask for a token again; app.js fills these in before anything runs.
export const app = { route() {}, login() {} };

// --- API --------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, body) {
    const e = body && body.error;
    super(e ? `${e.message}${e.field ? ` (${e.field})` : ""}` : `HTTP ${status}`);
    this.status = status;
  }
}

export async function api(path, options = {}) {
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

export const post = (path, body) => api(path, { method: "POST", body });

// --- helpers ----------------------------------------------------------------------

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export const canWrite = () => session && session.access === "write";
export const short = (id) => String(id).slice(0, 8) + "…" + String(id).slice(-4);
export const badge = (status) => `<span class="badge s-${esc(status)}">${esc(status)}</span>`;
export const num = (n) => Number(n || 0).toLocaleString("en-US");

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString("sv-SE", { hour12: false }).replace("T", " ");
}

export function ago(iso) {
  if (!iso) return "never";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.max(s, 0)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

export function duration(from, to) {
  if (!from || !to) return "";
  const ms = new Date(to) - new Date(from);
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export function toast(message, kind = "ok") {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = kind;
  el.hidden = false;
  clearTimeout(toast.t);
  toast.t = setTimeout(() => { el.hidden = true; }, 6000);
}

export function confirmDialog(text, go) {
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

export function every(ms, fn) {
  clearInterval(timer);
  timer = setInterval(fn, ms);
}

export function stopRefresh() {
  clearInterval(timer);
}

export function failed(e) {
  if (e instanceof ApiError && e.status === 401) return app.login("The token was refused.");
  main.innerHTML = `<div class="error-box">${esc(e.message)}</div>`;
}

// Why a worker's score is what it is (the API's health_reason), under its bar.
export function healthReason(reason) {
  return reason ? `<div class="health-reason small muted" title="${esc(reason)}">${esc(reason)}</div>` : "";
}

export function healthBar(score) {
  const kind = score >= 0.8 ? "ok" : score >= 0.5 ? "warn" : "bad";
  return `<span class="health ${kind}"><span style="width:${(score * 100).toFixed(0)}%"></span></span> ${Number(score).toFixed(2)}`;
}
