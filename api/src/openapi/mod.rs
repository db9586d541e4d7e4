//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and served unauthenticated at `GET /api/v1/openapi.json`, so
//! that tools (client generators, Schemathesis) can read it without a token.
//! It describes nothing a token would reveal.
//!
//! Every `/api/v1` operation but this one takes the bearer token and may answer
//! 401, 429, 500 and 503, 404 (an org or object outside the token's orgs is
//! one that does not exist) unless it names nothing (`/me`), and 413 when it
//! takes a body: [`CommonProblems`] adds those, so each handler's annotation
//! lists only its own answers.

pub mod schemas;

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::error::{InvalidParam, Problem};

/// The name of the bearer security scheme.
const BEARER: &str = "bearer";
const PROBLEM: &str = "application/problem+json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sweepwatch API",
        description = "Dispatch-centre API of sweepwatch: positions, alerts, coverage, tracks, \
                       reports, the live stream, the admins' configuration edits, API tokens \
                       and the audit log. Bearer tokens carry a role: `viewer` reads, \
                       `operator` also acknowledges and resolves alerts and justifies missed \
                       stretches, `admin` also edits devices, areas, shifts and assignments, \
                       manages tokens and reads the audit log. A token may be limited to some \
                       orgs (`GET /api/v1/me` says which): it then sees and acts on those \
                       orgs' devices, areas, shifts, assignments, alerts, coverage, reports \
                       and stream events only, and anything of another org (an id, an org \
                       named in the path, the query or the body) is answered 404, exactly as \
                       what does not exist. Errors are RFC 9457 problem documents \
                       (`application/problem+json`)."
    ),
    paths(
        crate::health::healthz,
        crate::health::readyz,
        crate::health::metrics,
        openapi_json,
        crate::auth::me,
        crate::positions::positions,
        crate::alerts::list,
        crate::alerts::get,
        crate::alerts::ack,
        crate::alerts::resolve,
        crate::coverage::get,
        crate::coverage::justify,
        crate::track::track,
        crate::stream::stream,
        crate::reports::shift,
        crate::reports::devices,
        crate::resources::devices::list,
        crate::resources::devices::create,
        crate::resources::devices::get,
        crate::resources::devices::update,
        crate::resources::devices::delete,
        crate::resources::areas::list,
        crate::resources::areas::create,
        crate::resources::areas::get,
        crate::resources::areas::update,
        crate::resources::areas::delete,
        crate::resources::shifts::list,
        crate::resources::shifts::create,
        crate::resources::shifts::get,
        crate::resources::shifts::update,
        crate::resources::shifts::delete,
        crate::resources::assignments::list,
        crate::resources::assignments::create,
        crate::resources::assignments::get,
        crate::resources::assignments::update,
        crate::resources::assignments::delete,
        crate::tokens::list,
        crate::tokens::create,
        crate::tokens::revoke,
        crate::audit::list,
    ),
    components(schemas(Problem, InvalidParam)),
    modifiers(&CommonProblems),
    tags(
        (name = "operations", description = "Health, readiness, metrics, this document"),
        (name = "live", description = "Latest positions and the live event stream"),
        (name = "alerts", description = "The alert queue and the operators' actions"),
        (name = "coverage", description = "Route coverage per shift instance"),
        (name = "reports", description = "Shift and device reports (JSON or CSV)"),
        (name = "configuration", description = "Devices, areas, shifts, assignments (admins edit)"),
        (name = "tokens", description = "API tokens and the audit log (admins)"),
    )
)]
pub struct ApiDoc;

/// The document, rendered once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
});

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object))
)]
pub(crate) async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

/// Declares the bearer scheme, requires it on `/api/v1` operations, and adds
/// the problems every one of them may answer.
struct CommonProblems;

impl Modify for CommonProblems {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token: configured ([[api.tokens]] by its SHA-256, or \
                         SWEEPWATCH_API_TOKENS=name:role:token, name:role@org1+org2:token for \
                         one limited to orgs), or created with POST /api/v1/tokens",
                    ))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json" {
                continue;
            }
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            let names_an_object = path != "/api/v1/me";
            for op in ops.into_iter().flatten() {
                secure(op, names_an_object);
            }
        }
    }
}

fn secure(op: &mut Operation, names_an_object: bool) {
    op.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| problem(description));
    };
    add("401", "No token, or one that is not known (or was revoked)");
    if names_an_object {
        add(
            "404",
            "An org or object that does not exist, or of an org outside the token's orgs",
        );
    }
    add(
        "429",
        "The token's rate limit is spent, or this client made too many failed \
         authentications; retry after `Retry-After` seconds",
    );
    add("500", "An internal error (logged)");
    add(
        "503",
        "The database is unavailable, or the request timed out; retry later",
    );
    if op.request_body.is_some() {
        add("413", "The body is larger than the configured limit");
    }
}

fn problem(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    #[test]
    fn the_document_is_openapi_3_1_with_answers_and_security_for_every_operation() {
        let doc: Value = serde_json::from_str(&super::DOCUMENT).unwrap();
        if let Ok(path) = std::env::var("SWEEPWATCH_OPENAPI_DUMP") {
            std::fs::write(path, super::DOCUMENT.as_str()).unwrap();
        }
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "{id} twice");
                let answers = op["responses"].as_object().unwrap();
                assert!(!answers.is_empty(), "{method} {path}");
                let secured = op.get("security").is_some();
                let open = !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json";
                assert_eq!(secured, !open, "{method} {path}");
                if secured {
                    assert!(answers.contains_key("401"), "{method} {path}");
                }
            }
        }
    }
}
