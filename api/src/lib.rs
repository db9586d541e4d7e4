//! sweepwatch HTTP API (axum).
//!
//! Today: the operational endpoints, unauthenticated —
//! `GET /healthz` (the process is up), `GET /readyz` (database and broker
//! reachable; 503 otherwise), `GET /metrics` (Prometheus text format).
//! The dispatch-centre API (`/api/v1/...`) is built on the same [`router`].
//!
//! [`serve`] takes a bound listener and a shutdown token, so tests bind port 0.

mod health;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use health::Readiness;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub readiness: Readiness,
    pub registry: prometheus::Registry,
    /// The database (reads, and the operators' writes).
    pub pool: store::Pool,
    /// Latest positions and the broadcast of committed positions and alert transitions.
    pub live: std::sync::Arc<ingest::live::LiveView>,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(Arc::new(state))
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
