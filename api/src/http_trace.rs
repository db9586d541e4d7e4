//! A `tracing` span per HTTP request: `http_request` with `method`, `route`
//! (the route template, as `MatchedPath` names it: `/api/v1/alerts/{id}/ack`,
//! never the raw path), and, once answered, `status` and `latency_ms` (to the
//! response head). Everything the handler does runs inside it, database
//! statements included, so a slow request's log lines and its time in the
//! store can be told apart from the rest. The answer is logged at `debug`
//! (`SWEEPWATCH_LOG=info,api=debug`) with the span's fields.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;
use tracing::field::Empty;

pub async fn span(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "http_request",
        method = %req.method(),
        route = %route,
        status = Empty,
        latency_ms = Empty,
    );
    let start = Instant::now();
    let resp = next.run(req).instrument(span.clone()).await;
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    let status = resp.status().as_u16();
    span.record("status", status);
    span.record("latency_ms", latency_ms);
    span.in_scope(|| tracing::debug!(status, latency_ms, "request answered"));
    resp
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt as _;
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Subscriber, field};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

    /// A span's name and its fields.
    type Recorded = (String, HashMap<String, String>);

    /// Every span's name and fields, as recorded.
    #[derive(Clone, Default)]
    struct Spans(Arc<Mutex<HashMap<u64, Recorded>>>);

    struct Fields<'a>(&'a mut HashMap<String, String>);
    impl field::Visit for Fields<'_> {
        fn record_debug(&mut self, f: &field::Field, v: &dyn std::fmt::Debug) {
            self.0.insert(f.name().to_owned(), format!("{v:?}"));
        }
    }

    impl<S: Subscriber> Layer<S> for Spans {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
            let mut fields = HashMap::new();
            attrs.record(&mut Fields(&mut fields));
            let name = attrs.metadata().name().to_owned();
            self.0.lock().unwrap().insert(id.into_u64(), (name, fields));
        }
        fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
            if let Some((_, fields)) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
                values.record(&mut Fields(fields));
            }
        }
    }

    #[tokio::test]
    async fn each_request_has_a_span_with_route_template_status_and_latency() {
        let spans = Spans::default();
        let _guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
        // Nested and layered as in `router_with`.
        let api = Router::new().route("/things/{id}", get(|| async { StatusCode::ACCEPTED }));
        let app = Router::new()
            .nest("/api/v1", api)
            .layer(axum::middleware::from_fn(super::span));
        let resp = app
            .oneshot(
                axum::http::Request::get("/api/v1/things/42")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let spans = spans.0.lock().unwrap();
        let (_, f) = spans
            .values()
            .find(|(name, _)| name == "http_request")
            .expect("an http_request span");
        assert_eq!(f["method"], "GET");
        assert_eq!(
            f["route"], "/api/v1/things/{id}",
            "the template, not the path"
        );
        assert_eq!(f["status"], "202");
        let ms: f64 = f["latency_ms"].parse().unwrap();
        assert!((0.0..10_000.0).contains(&ms), "{ms}");
    }
}
