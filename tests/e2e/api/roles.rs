//! The role matrix: every endpoint, every role.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::api::{ADMIN, ApiTown, OPERATOR, VIEWER};

#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Need {
    Viewer,
    Operator,
    Admin,
}

fn endpoints() -> Vec<(Method, &'static str, Option<Value>, Need)> {
    use Method as M;
    use Need::*;
    let feature = json!({"type": "Feature", "id": "zz", "properties": {"kind": "park"},
        "geometry": {"type": "Polygon", "coordinates": [[[113.0, 22.0], [113.001, 22.0], [113.001, 22.001], [113.0, 22.0]]]}});
    let shift =
        json!({"id": "zz", "weekly": [{"days": ["Mon"], "start": "01:00:00", "end": "02:00:00"}]});
    let asg = json!({"device_id": 999999, "area": "route-a", "shift": "day"});
    vec![
        (M::GET, "/api/v1/me", None, Viewer),
        (M::GET, "/api/v1/positions", None, Viewer),
        (M::GET, "/api/v1/alerts", None, Viewer),
        (M::GET, "/api/v1/alerts/999999", None, Viewer),
        (
            M::POST,
            "/api/v1/alerts/999999/ack",
            Some(json!({})),
            Operator,
        ),
        (
            M::POST,
            "/api/v1/alerts/999999/resolve",
            Some(json!({"note": "x"})),
            Operator,
        ),
        (
            M::GET,
            "/api/v1/coverage?route=route-a&shift=day&date=2026-01-01",
            None,
            Viewer,
        ),
        (
            M::POST,
            "/api/v1/coverage/justify",
            Some(
                json!({"route": "route-a", "shift": "day", "date": "2026-01-01", "from_m": 0.0, "to_m": 1.0, "note": "x"}),
            ),
            Operator,
        ),
        (M::GET, "/api/v1/devices", None, Viewer),
        (M::GET, "/api/v1/devices/999999", None, Viewer),
        (
            M::GET,
            "/api/v1/devices/999999/track?from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z",
            None,
            Viewer,
        ),
        (
            M::POST,
            "/api/v1/devices",
            Some(json!({"org": "nowhere", "device": "x", "kind": "worker"})),
            Admin,
        ),
        (
            M::PUT,
            "/api/v1/devices/999999",
            Some(json!({"kind": "worker"})),
            Admin,
        ),
        (M::DELETE, "/api/v1/devices/999999", None, Admin),
        (M::GET, "/api/v1/areas", None, Viewer),
        (M::GET, "/api/v1/areas/humen/route-a", None, Viewer),
        (
            M::POST,
            "/api/v1/areas/nowhere",
            Some(feature.clone()),
            Admin,
        ),
        (M::PUT, "/api/v1/areas/humen/zz", Some(feature), Admin),
        (M::DELETE, "/api/v1/areas/humen/zz", None, Admin),
        (M::GET, "/api/v1/shifts", None, Viewer),
        (M::GET, "/api/v1/shifts/humen/day", None, Viewer),
        (
            M::POST,
            "/api/v1/shifts/nowhere",
            Some(shift.clone()),
            Admin,
        ),
        (M::PUT, "/api/v1/shifts/humen/zz", Some(shift), Admin),
        (M::DELETE, "/api/v1/shifts/humen/zz", None, Admin),
        (M::GET, "/api/v1/assignments", None, Viewer),
        (M::GET, "/api/v1/assignments/999999", None, Viewer),
        (M::POST, "/api/v1/assignments", Some(asg.clone()), Admin),
        (M::PUT, "/api/v1/assignments/999999", Some(asg), Admin),
        (M::DELETE, "/api/v1/assignments/999999", None, Admin),
        (
            M::GET,
            "/api/v1/reports/shift?date=2026-01-01",
            None,
            Viewer,
        ),
        (
            M::GET,
            "/api/v1/reports/devices?date=2026-01-01",
            None,
            Viewer,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_on_each_endpoint() {
    let t = ApiTown::start().await;
    let roles = [
        (VIEWER, Need::Viewer),
        (OPERATOR, Need::Operator),
        (ADMIN, Need::Admin),
    ];
    for (method, path, body, need) in endpoints() {
        let a = t.call(method.clone(), path, None, body.clone()).await;
        a.assert_problem(StatusCode::UNAUTHORIZED);
        for (token, has) in roles {
            let a = t
                .call(method.clone(), path, Some(token), body.clone())
                .await;
            if has < need {
                assert_eq!(
                    a.status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} as {token}: {}",
                    a.text
                );
                assert_eq!(a.content_type, "application/problem+json");
            } else {
                assert!(
                    a.status != StatusCode::FORBIDDEN
                        && a.status != StatusCode::UNAUTHORIZED
                        && !a.status.is_server_error(),
                    "{method} {path} as {token}: {} {}",
                    a.status,
                    a.text
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_is_told_to_wait() {
    let t = ApiTown::start_with(&[
        ("SWEEPWATCH_API_TOKENS", crate::helpers::api::TOKENS),
        ("SWEEPWATCH_API_RATE_BURST", "5"),
        ("SWEEPWATCH_API_RATE_PER_S", "0.5"),
    ])
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(t.get("/api/v1/devices", VIEWER).await.status.as_u16());
    }
    assert_eq!(statuses[..5], [200; 5], "{statuses:?}");
    let last = t.get("/api/v1/devices", VIEWER).await;
    last.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    // Other tokens have their own budget.
    assert_eq!(t.get("/api/v1/devices", ADMIN).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_names_the_token_its_role_and_its_orgs() {
    let t = ApiTown::start().await;
    for (token, name, role) in [
        (VIEWER, "wall", "viewer"),
        (OPERATOR, "desk-1", "operator"),
        (ADMIN, "boss", "admin"),
    ] {
        let a = t.get("/api/v1/me", token).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        assert_eq!(a.body, json!({"name": name, "role": role, "orgs": null}));
    }
    t.get("/api/v1/me", "not-a-token")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}
