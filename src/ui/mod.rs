//! The dashboard at `/ui`: static files embedded in the binary (no build step, nothing
//! to install) — an HTML shell, vanilla JavaScript modules (`app.js`, the router, and
//! one module per page beside the ones they share) and a style sheet, under
//! `src/ui/assets/`. The page reads and writes only through the public `/v1` API with
//! the token the operator types in (kept in `sessionStorage`), so any node shows the
//! whole cluster and the API's checks (read-only tokens included) are the only ones.
//! `docs/dashboard.md` explains the choice.

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};

const INDEX: &str = include_str!("assets/index.html");
const APP_CSS: &str = include_str!("assets/app.css");

/// What the dashboard's pages may load: only this node's own files and API.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// The dashboard's page (served at `/ui` and `/ui/`; the routes are in
/// `crate::api::routes`, open: the files hold no data; the data needs the token).
pub async fn index() -> HttpResponse {
    asset(INDEX, "text/html; charset=utf-8")
}

/// One handler per script, each served at `/ui/<file>` (the routes are in
/// `crate::api::routes`). `app.js` imports the others by relative path, so the
/// browser asks for each under `/ui/`, with the same headers.
macro_rules! scripts {
    ($($handler:ident => $file:literal),+ $(,)?) => {$(
        #[doc = concat!("`", $file, "`.")]
        pub async fn $handler() -> HttpResponse {
            asset(include_str!(concat!("assets/", $file)), "text/javascript; charset=utf-8")
        }
    )+};
}

scripts! {
    app_js => "app.js",
    core_js => "core.js",
    actions_js => "actions.js",
    overview_js => "overview.js",
    jobs_js => "jobs.js",
    job_js => "job.js",
    workers_js => "workers.js",
}

/// Its style sheet.
pub async fn app_css() -> HttpResponse {
    asset(APP_CSS, "text/css; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    let mut response = HttpResponse::Ok().content_type(content_type).body(body);
    let headers = response.headers_mut();
    // Revalidated on each load, so a node upgrade is seen at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
