//! The OpenAPI document, generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use super::{jobs, ops, workers};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aeon",
        description = "A durable, actor-based job runtime. When `api.token` is set, every /v1 call needs `Authorization: Bearer <token>`."
    ),
    paths(
        jobs::submit,
        jobs::submit_batch,
        jobs::show,
        jobs::list,
        jobs::workflow,
        jobs::cancel,
        workers::list,
        workers::crash,
        ops::dead_letters,
        ops::requeue,
        ops::stats,
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
