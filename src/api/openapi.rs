//! The OpenAPI document, generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use super::{bulk, contexts, jobs, ops, snapshots, workers};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aeon",
        description = "A durable, actor-based job runtime. When `api.token` is set, every /v1 call needs `Authorization: Bearer <token>`; `api.read_token`, when set, may make every GET and no write (403)."
    ),
    paths(
        jobs::submit,
        jobs::submit_batch,
        jobs::show,
        jobs::list,
        jobs::workflow,
        jobs::cancel,
        contexts::similar,
        contexts::context,
        bulk::run,
        workers::list,
        workers::crash,
        snapshots::create,
        snapshots::list,
        snapshots::show,
        snapshots::restore,
        ops::dead_letters,
        ops::requeue,
        ops::stats,
        ops::history,
        ops::session,
        ops::livez,
        ops::readyz,
        ops::metrics,
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON (what `docs/openapi.json` holds).
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serializes")
}

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document())
}
