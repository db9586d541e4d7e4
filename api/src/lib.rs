//! sweepwatch HTTP API (axum).
//!
//! - Operational endpoints, unauthenticated: `GET /healthz` (the process is
//!   up), `GET /readyz` (database and broker reachable; 503 otherwise),
//!   `GET /metrics` (Prometheus text format).
//! - The dispatch-centre API under `/api/v1`, behind bearer tokens with roles
//!   and orgs ([`auth`]): positions ([`positions`]), alerts ([`alerts`]),
//!   coverage ([`coverage`]), tracks ([`track`]), reports ([`reports`]), the
//!   live stream ([`stream`]), the admins' configuration edits
//!   ([`resources`]), API tokens ([`tokens`]) and the audit log ([`audit`]).
//!   A token limited to some orgs sees only theirs: anything else is 404.
//!   Reads go through `store::queries`; the live view (crate `live`) gives
//!   positions and the event stream, each device with its display state
//!   ([`display`], judged by `geofence::display_state`).
//! - Each request runs in an `http_request` span (route template, status,
//!   latency: [`http_trace`]).
//! - Every error is an [`error::ApiError`], answered as `application/problem+json`.
//! - The OpenAPI 3.1 document ([`openapi`]), generated from the handlers'
//!   annotations, at `GET /api/v1/openapi.json` (no token needed).
//! - Every answer carries `X-Content-Type-Options: nosniff`, `Referrer-Policy`
//!   and a content security policy that allows nothing (the dashboard's page,
//!   served by the binary beside this router, sets its own).
//!
//! [`serve`] takes a bound listener and a shutdown token, so tests bind port
//! 0; it cuts off clients that trickle their headers ([`server`]).

mod alerts;
mod audit;
pub mod auth;
pub mod config;
mod coverage;
mod display;
pub mod error;
mod extract;
mod geo_util;
mod health;
mod http_metrics;
mod http_trace;
pub mod openapi;
mod page;
mod positions;
mod reports;
mod resources;
pub mod server;
mod stream;
mod tokens;
mod track;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::middleware;
use axum::routing::{delete, get, post};
use resources::{areas, assignments, devices, shifts};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use config::ApiConfig;
pub use health::Readiness;
pub use server::ServeOptions;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub readiness: Readiness,
    pub registry: prometheus::Registry,
    /// The database (reads, and the operators' writes).
    pub pool: store::Pool,
    /// Latest positions and the broadcast of committed positions and alert transitions.
    pub live: std::sync::Arc<live::LiveView>,
}

/// The whole HTTP surface with an explicit API configuration.
pub fn router_with(state: AppState, cfg: ApiConfig) -> Router {
    if cfg.tokens.is_empty() {
        tracing::warn!(
            "no API tokens configured: every /api/v1 request will be refused unless tokens \
             were created through the API"
        );
    }
    let metrics = http_metrics::HttpMetrics::register(&state.registry);
    let auth = Arc::new(auth::Auth::new(&cfg, Some(state.pool.clone())));
    auth::tokens::spawn_flusher(&auth);
    let slots = Arc::new(stream::StreamSlots::new(cfg.stream_max_per_token));
    let state = Arc::new(state);
    let api = api_routes()
        .route_layer(middleware::from_fn_with_state(
            auth.clone(),
            auth::authenticate,
        ))
        // After the auth layer: tools read the document without a token.
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            Duration::from_secs(cfg.request_timeout_s.max(1)),
            time_limit,
        ))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes));
    // A handler that panics answers 500 (logged as an internal error) instead
    // of dropping the connection; the process goes on serving.
    let directory = Arc::new(positions::DirectoryCache::default());
    let answers = Arc::new(positions::ReadyAnswers::default());
    positions::spawn_refresher(&answers, &state, &directory);
    let api = api
        .layer(axum::Extension(directory))
        .layer(axum::Extension(answers))
        .layer(axum::Extension(auth))
        .layer(axum::Extension(slots))
        .layer(CatchPanicLayer::custom(panicked));
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest("/api/v1", api)
        .with_state(state);
    if let Some(cors) = cors_layer(&cfg.cors_origins) {
        router = router.layer(cors);
    }
    let router = router
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(http_trace::span));
    match metrics {
        Ok(m) => router.layer(middleware::from_fn_with_state(m, http_metrics::track)),
        Err(e) => {
            tracing::warn!(error = %e, "HTTP metrics not registered");
            router
        }
    }
}

/// Headers every answer of this router carries, unless a handler set its own:
/// no MIME sniffing, no referrer, and a content security policy that lets a
/// JSON answer opened in a browser run or embed nothing.
async fn security_headers(
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    resp
}

fn api_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/me", get(auth::me))
        .route("/positions", get(positions::positions))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}", get(alerts::get))
        .route("/alerts/{id}/ack", post(alerts::ack))
        .route("/alerts/{id}/resolve", post(alerts::resolve))
        .route("/coverage", get(coverage::get))
        .route("/coverage/justify", post(coverage::justify))
        .route("/devices", get(devices::list).post(devices::create))
        .route(
            "/devices/{id}",
            get(devices::get)
                .put(devices::update)
                .delete(devices::delete),
        )
        .route("/devices/{id}/track", get(track::track))
        .route("/stream", get(stream::stream))
        .route("/reports/shift", get(reports::shift))
        .route("/reports/devices", get(reports::devices))
        .route("/areas", get(areas::list))
        .route("/areas/{org}", post(areas::create))
        .route(
            "/areas/{org}/{id}",
            get(areas::get).put(areas::update).delete(areas::delete),
        )
        .route("/shifts", get(shifts::list))
        .route("/shifts/{org}", post(shifts::create))
        .route(
            "/shifts/{org}/{id}",
            get(shifts::get).put(shifts::update).delete(shifts::delete),
        )
        .route(
            "/assignments",
            get(assignments::list).post(assignments::create),
        )
        .route(
            "/assignments/{id}",
            get(assignments::get)
                .put(assignments::update)
                .delete(assignments::delete),
        )
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{name}", delete(tokens::revoke))
        .route("/audit", get(audit::list))
}

async fn not_found() -> error::ApiError {
    error::ApiError::NotFound("no such endpoint".into())
}

fn panicked(_: Box<dyn std::any::Any + Send>) -> axum::response::Response {
    use axum::response::IntoResponse;
    error::ApiError::Internal("a handler panicked".into()).into_response()
}

async fn method_not_allowed() -> error::ApiError {
    error::ApiError::MethodNotAllowed
}

/// Answers 503 (a problem document) when a handler takes longer than the
/// limit. The live stream is not cut: its handler answers at once and the
/// events follow in the body.
async fn time_limit(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => error::ApiError::TimedOut(limit.as_secs()).into_response(),
    }
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish, with the default [`ServeOptions`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, ServeOptions::default()).await
}

/// [`serve`] with explicit options (the header read timeout).
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    opts: ServeOptions,
) -> std::io::Result<()> {
    // Live streams end on shutdown, or graceful shutdown would wait for them forever.
    let router = router.layer(axum::Extension(stream::StreamShutdown(shutdown.clone())));
    server::serve_connections(listener, router, shutdown, opts).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_slow_handler_is_answered_503_as_a_problem() {
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/fast", get(|| async { "ok" }))
            .layer(middleware::from_fn_with_state(
                Duration::from_millis(50),
                time_limit,
            ));
        let slow = app
            .clone()
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(slow.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            slow.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let fast = app
            .oneshot(Request::get("/fast").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(fast.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_as_a_problem() {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("boom");
                    }
                    "never"
                }),
            )
            .layer(CatchPanicLayer::custom(panicked));
        let resp = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
