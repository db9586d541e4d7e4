//! `/healthz`, `/readyz` and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, TextEncoder};
use serde::Serialize;

use crate::AppState;

/// The dependencies `/readyz` checks.
#[derive(Clone)]
pub struct Readiness {
    pub pool: store::Pool,
    /// The MQTT connection: `connected`, `disconnected`, or `subscription
    /// refused` (connected, but the broker refused a topic filter).
    pub broker: Arc<dyn Fn() -> &'static str + Send + Sync>,
    /// Why ingest is stalled (messages held, nothing committed although the
    /// database answers), while it is.
    pub ingest_stalled: Arc<dyn Fn() -> Option<String> + Send + Sync>,
    /// `active` (holds the ingest lease and ingests) or `standby` (serves the
    /// API only, waiting for the lease).
    pub role: Arc<dyn Fn() -> &'static str + Send + Sync>,
}

/// What `/readyz` found.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ReadyReport {
    ready: bool,
    /// `ok`, or `unreachable: …`
    database: String,
    /// `connected`, `disconnected`, `subscription refused` (connected, but
    /// the broker refused a topic filter: nothing on it is ingested),
    /// `standby` (not connected by design) or `starting`
    #[schema(value_type = String)]
    broker: &'static str,
    /// `ok`, `standby` (another instance holds the ingest lease), or
    /// `stalled: …` (messages held and nothing committed for
    /// `pipeline.stall_after_secs` although the database answers)
    ingest: String,
    /// `active` (this instance ingests), `standby` (it serves the API and
    /// waits for the ingest lease), or `starting` (its first try of the lease
    /// is not answered yet: not ready)
    #[schema(value_type = String)]
    role: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")))]
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// The database and the broker are reachable, and ingest is not stalled (a
/// standby: the database is reachable).
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses(
        (status = 200, description = "Ready", body = ReadyReport),
        (status = 503, description = "Not ready: the report says which dependency is not", body = ReadyReport),
    ))]
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    // A readiness probe must answer quickly even when the database hangs.
    let db = tokio::time::timeout(
        Duration::from_secs(2),
        store::db::ping(&state.readiness.pool),
    )
    .await;
    let database = match db {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => format!("unreachable: {e}"),
        Err(_) => "unreachable: no answer within 2s".to_owned(),
    };
    let role = (state.readiness.role)();
    let standby = role == "standby";
    // A standby does not connect to the broker; it is ready to serve reads.
    // Until the first try of the lease is answered (`starting`) it is not ready:
    // it may be about to ingest.
    let broker = if standby {
        "standby"
    } else if role == "starting" {
        "starting"
    } else {
        (state.readiness.broker)()
    };
    let ingest = match (state.readiness.ingest_stalled)() {
        _ if standby => "standby".to_owned(),
        _ if role == "starting" => "starting".to_owned(),
        None => "ok".to_owned(),
        Some(why) => format!("stalled: {why}"),
    };
    let ready = database == "ok" && (standby || (broker == "connected" && ingest == "ok"));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(ReadyReport {
            ready,
            database,
            broker,
            ingest,
            role,
        }),
    )
        .into_response()
}

/// Prometheus metrics, text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 500, description = "The metrics could not be encoded"),
    ))]
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let encoder = TextEncoder::new();
    let mut families = state.registry.gather();
    families.extend(prometheus::gather()); // process_* collectors of the default registry
    let mut buf = Vec::new();
    match encoder.encode(&families, &mut buf) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            buf,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
