//! The OpenAPI document: served without a token, OpenAPI 3.1, and in step
//! with the router (every route documented, every documented route served).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::api::ApiTown;

/// The router's source: routes are read from `api_routes()`, so a route added
/// there without an annotation fails this test.
const ROUTER_SOURCE: &str = include_str!("../../../api/src/lib.rs");

/// (method, path) of every route `api_routes()` serves under `/api/v1`.
fn routed() -> BTreeSet<(String, String)> {
    let body = ROUTER_SOURCE
        .split("fn api_routes()")
        .nth(1)
        .expect("api_routes() in api/src/lib.rs");
    let body = &body[..body.find("\n}\n").expect("the end of api_routes()")];
    let mut out = BTreeSet::new();
    for call in body.split(".route(").skip(1) {
        let start = call.find('"').expect("a path literal") + 1;
        let len = call[start..].find('"').unwrap();
        let path = format!("/api/v1{}", &call[start..start + len]);
        let handlers = &call[start + len..];
        for m in ["get", "post", "put", "delete", "patch"] {
            let called = handlers.match_indices(&format!("{m}(")).any(|(i, _)| {
                i == 0
                    || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && handlers.as_bytes()[i - 1] != b'_'
                        && handlers.as_bytes()[i - 1] != b':'
            });
            if called {
                out.insert((m.to_owned(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_3_1_open_to_all_and_documents_every_route() {
    let t = ApiTown::start().await;
    let a = t
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(
        a.content_type.starts_with("application/json"),
        "{}",
        a.content_type
    );
    let doc: Value = a.body;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");

    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let answers = op["responses"].as_object().expect("responses");
            assert!(!answers.is_empty(), "{method} {path} has no responses");
            documented.insert((method.clone(), path.clone()));
        }
    }
    for op in ["/healthz", "/readyz", "/metrics"] {
        assert!(
            documented.contains(&("get".to_owned(), op.to_owned())),
            "{op}"
        );
    }

    // Every route of the router is documented…
    let routes = routed();
    assert!(
        routes.len() >= 30,
        "read {} routes from lib.rs",
        routes.len()
    );
    let missing: Vec<_> = routes.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes not in the document: {missing:?}"
    );

    // …and every documented /api/v1 operation is served: without a token it
    // is refused (401) rather than unknown (404) or of another method (405).
    for (method, path) in &documented {
        if !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json" {
            continue;
        }
        assert!(
            doc["paths"][path][method]["security"].is_array(),
            "{method} {path}"
        );
        let concrete = path.replace("{id}", "1").replace("{org}", "humen");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let got = t.call(m, &concrete, None, None).await;
        assert_eq!(
            got.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {}",
            got.text
        );
    }
}
