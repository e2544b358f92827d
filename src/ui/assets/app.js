// The Aeon dashboard: ES modules, no dependencies, no build step. It reads and
// writes only through the public /v1 API, with the token kept in sessionStorage
// (never in a URL). Pages are hash routes: #/, #/jobs?…, #/jobs/<id>,
// #/dead-letters?…, #/workers. See docs/dashboard.md.
//
// This module is the entry: the login form, the session and the router. Each page is
// a module of its own (overview.js, jobs.js, job.js, workers.js); what they share is
// in core.js and actions.js.

import {
  ApiError, TOKEN_KEY, api, app, canWrite, esc, failed, main, session, setSession, stopRefresh,
} from "./core.js";
import { jobDetail } from "./job.js";
import { jobsPage } from "./jobs.js";
import { overview } from "./overview.js";
import { workersPage } from "./workers.js";

let renderId = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  return { path, params: new URLSearchParams(query || "") };
}

// --- access -----------------------------------------------------------------------

function login(message) {
  stopRefresh();
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
    setSession(await api("/v1/session"));
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
  stopRefresh();
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

app.route = route;
app.login = login;

start();
