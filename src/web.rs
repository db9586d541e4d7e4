//! The dispatch dashboard, served at `/` by `sweepwatch serve`.
//!
//! The page is built separately (`cd web && npm ci && npm run build`, into
//! `web/dist`) so that `cargo build` needs no Node.js; `serve` serves that
//! directory (`[web] dir`) as the router's fallback, so `/api/v1`, `/healthz`,
//! `/readyz` and `/metrics` keep priority. `GET /config.json` gives the page
//! its runtime settings (the optional base-map tiles); it holds no data, so it
//! needs no token. When the directory has no `index.html`, `/` answers a short
//! page saying how to build it.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;
use tower_http::services::ServeDir;

use crate::config::WebConfig;

/// Adds `/config.json` and the page's files (as the fallback) to `router`.
pub fn with_dashboard(router: Router, cfg: &WebConfig) -> Router {
    let dir = PathBuf::from(&cfg.dir);
    if !dir.join("index.html").is_file() {
        tracing::warn!(
            dir = %dir.display(),
            "the dashboard is not built: / explains how (cd web && npm ci && npm run build)"
        );
    }
    let page_config = json!({
        "tile_url": cfg.tile_url,
        "tile_attribution": cfg.tile_attribution,
        "version": env!("CARGO_PKG_VERSION"),
    });
    let csp = content_security_policy(&cfg.tile_url);
    let not_built = {
        let dir = dir.clone();
        move || not_built(dir.clone())
    };
    let files = ServeDir::new(&dir).fallback(get(not_built));
    let static_routes = Router::new()
        .route(
            "/config.json",
            get(move || async move { Json(page_config) }),
        )
        .fallback_service(files)
        .layer(middleware::from_fn(move |req, next| {
            page_headers(csp.clone(), req, next)
        }));
    router.merge(static_routes)
}

/// What the page may load: itself, and the tile server's images when one is
/// configured. Leaflet positions its panes with inline styles.
fn content_security_policy(tile_url: &str) -> HeaderValue {
    let tiles = tile_origin(tile_url).unwrap_or_default();
    let csp = format!(
        "default-src 'self'; img-src 'self' data: blob: {tiles}; style-src 'self' 'unsafe-inline'; \
         script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(csp.trim())
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
}

/// `https://{s}.tile.example.org/{z}/{x}/{y}.png` → `https://*.tile.example.org`.
fn tile_origin(tile_url: &str) -> Option<String> {
    let (scheme, rest) = tile_url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let host = rest.split('/').next()?.replace("{s}", "*");
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*'));
    ok.then(|| format!("{scheme}://{host}"))
}

/// Cache headers (Vite's hashed assets forever, everything else revalidated)
/// and the security headers of the page.
async fn page_headers(csp: HeaderValue, req: Request, next: Next) -> Response {
    let immutable = req.uri().path().starts_with("/assets/");
    let mut resp = next.run(req).await;
    let cache = if immutable && resp.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// 404 for a missing file; for the page itself when it is not built, a 503
/// that says how to build it.
async fn not_built(dir: PathBuf) -> Response {
    if index_exists(&dir) {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    let dir = html_escape(&dir.display().to_string());
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>sweepwatch: dashboard not built</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}}\
         code,pre{{background:#eef;padding:.1rem .3rem}}</style></head><body>\
         <h1>The dispatch dashboard is not built</h1>\
         <p>sweepwatch serves the page from <code>{dir}</code> (<code>[web] dir</code> in the \
         configuration, or <code>SWEEPWATCH_WEB_DIR</code>), and there is no <code>index.html</code> there.</p>\
         <p>Build it (needs Node.js 20 or newer), in the repository:</p>\
         <pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>\
         <p>The API works without it: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>, \
         <a href=\"/healthz\">/healthz</a>, <a href=\"/readyz\">/readyz</a>, <a href=\"/metrics\">/metrics</a>.</p>\
         </body></html>"
    );
    (StatusCode::SERVICE_UNAVAILABLE, Html(body)).into_response()
}

fn index_exists(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_origins_for_the_content_security_policy() {
        assert_eq!(
            tile_origin("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png").as_deref(),
            Some("https://*.tile.openstreetmap.org")
        );
        assert_eq!(
            tile_origin("http://gis.city.local:8081/tiles/{z}/{x}/{y}.png").as_deref(),
            Some("http://gis.city.local:8081")
        );
        assert_eq!(tile_origin(""), None);
        assert_eq!(tile_origin("javascript:alert(1)"), None);
        assert_eq!(tile_origin("https://a b/{z}"), None);
    }

    #[tokio::test]
    async fn unbuilt_page_says_how_to_build_it_and_config_is_served() {
        use tower::ServiceExt as _;
        let cfg = WebConfig {
            dir: "/nonexistent/sweepwatch-web".into(),
            tile_url: "https://tiles.example/{z}/{x}/{y}.png".into(),
            tile_attribution: "© Example".into(),
        };
        let app = with_dashboard(Router::new(), &cfg);
        let get = |path: &str| {
            Request::builder()
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let resp = app.clone().oneshot(get("/")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("npm run build"));

        let resp = app.oneshot(get("/config.json")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("https://tiles.example"), "{csp}");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["tile_attribution"], "© Example");
    }
}
