//! The HTTP API (`/api/v1`) against a real database with the test town loaded:
//! contents, roles, validation problems, conflicts, metrics.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::api::{ADMIN, ApiTown, OPERATOR, VIEWER, answer};

mod attacks;
mod openapi;
mod resources;
mod roles;
mod stream;
mod tenancy;
mod tokens;
mod towns;
mod views;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokens_configured_every_call_is_401_explaining_how_to_configure() {
    let t = ApiTown::start_with(&[]).await;
    let a = t.get("/api/v1/alerts", "anything").await;
    a.assert_problem(StatusCode::UNAUTHORIZED);
    assert!(
        a.body["detail"].as_str().unwrap().contains("sha256sum"),
        "{}",
        a.text
    );
    // The operational endpoints stay open.
    assert_eq!(t.svc.get("/healthz").await.status(), 200);
    assert_eq!(t.svc.get("/metrics").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_listed_newest_first_acknowledged_and_resolved_once() {
    let t = ApiTown::start().await;
    let d = t.standard_day().await;
    let wk1 = t.device_id("wk-1").await;

    let list = t.get("/api/v1/alerts?kind=sos&state=open", VIEWER).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", list.text);
    let sos = &items[0];
    assert_eq!(sos["device"], "wk-1");
    assert_eq!(sos["device_id"], wk1);
    assert_eq!(sos["org"], "humen");
    assert_eq!(sos["district"], "D1");
    assert_eq!(sos["shift_date"], d.to_string());
    let opened = crate::helpers::town::local(d, 6, 10, 7);
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(sos["opened_at"].as_str().unwrap()).unwrap(),
        opened
    );
    let id = sos["id"].as_i64().unwrap();

    // Filters: by device, by a time window that excludes it.
    let by_dev = t.get(&format!("/api/v1/alerts?device={wk1}"), VIEWER).await;
    assert!(
        by_dev.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["device"] == "wk-1")
    );
    let later = (opened + chrono::Duration::seconds(1)).to_rfc3339();
    let none = t
        .get(
            &format!("/api/v1/alerts?kind=sos&from={}", urlenc(&later)),
            VIEWER,
        )
        .await;
    assert_eq!(none.body["items"], json!([]), "{}", none.text);

    // The viewer may not acknowledge.
    t.post(&format!("/api/v1/alerts/{id}/ack"), VIEWER, json!({}))
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    // The operator acknowledges, once.
    let ack = t
        .post(
            &format!("/api/v1/alerts/{id}/ack"),
            OPERATOR,
            json!({"note": "calling her"}),
        )
        .await;
    assert_eq!(ack.status, 200, "{}", ack.text);
    assert_eq!(ack.body["state"], "acknowledged");
    assert_eq!(ack.body["acknowledged_by"], "desk-1");
    t.post(&format!("/api/v1/alerts/{id}/ack"), OPERATOR, json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT);
    // Resolve with a note, then resolving again and acknowledging are conflicts.
    let res = t
        .post(
            &format!("/api/v1/alerts/{id}/resolve"),
            OPERATOR,
            json!({"note": "false alarm, pressed by mistake"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["state"], "resolved");
    assert_eq!(res.body["resolved_by"], "desk-1");
    assert_eq!(
        res.body["resolution_note"],
        "false alarm, pressed by mistake"
    );
    t.post(&format!("/api/v1/alerts/{id}/resolve"), OPERATOR, json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT);
    t.post(&format!("/api/v1/alerts/{id}/ack"), ADMIN, json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT);
    t.post("/api/v1/alerts/999999/ack", OPERATOR, json!({}))
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    // The transitions are stored with actor and note.
    let one = t.get(&format!("/api/v1/alerts/{id}"), VIEWER).await;
    let states: Vec<(&str, &str)> = one.body["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["state"].as_str().unwrap(), x["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        vec![
            ("open", "engine"),
            ("acknowledged", "desk-1"),
            ("resolved", "desk-1")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_pages_follow_the_cursor_without_gaps_or_repeats() {
    let t = ApiTown::start().await;
    // Ten devices' SOS presses, a minute apart.
    let c = t.db.client().await;
    for i in 0..10i32 {
        c.execute(
            "WITH d AS (INSERT INTO devices (org, name, kind) VALUES ('humen', $1, 'worker') RETURNING id)
             INSERT INTO alerts (org, device_id, kind, state, opened_at, lat, lon, message)
             SELECT 'humen', id, 'sos', 'open', now() - make_interval(mins => $2), 22.8, 113.6, 'SOS' FROM d",
            &[&format!("p-{i}"), &i],
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/alerts?limit=3".to_owned();
    loop {
        let page = t.get(&path, VIEWER).await;
        assert_eq!(page.status, 200, "{}", page.text);
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["device"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/alerts?limit=3&cursor={c}"),
            None => break,
        }
    }
    let want: Vec<String> = (0..10).map(|i| format!("p-{i}")).collect();
    assert_eq!(seen, want, "newest first, every alert once");
    t.get("/api/v1/alerts?cursor=bm9wZQ", VIEWER)
        .await
        .assert_invalid("cursor");
    t.get("/api/v1/alerts?limit=5000", VIEWER)
        .await
        .assert_invalid("limit");
    t.get("/api/v1/alerts?state=closed", VIEWER)
        .await
        .assert_invalid("state");
    t.get("/api/v1/alerts?from=yesterday", VIEWER)
        .await
        .assert_invalid("from");
    t.get("/api/v1/alerts?device=x", VIEWER)
        .await
        .assert_invalid("device");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_metrics_use_route_templates() {
    let t = ApiTown::start().await;
    for id in [1, 2, 3] {
        t.get(&format!("/api/v1/alerts/{id}"), VIEWER).await;
    }
    let n = t
        .svc
        .metric("sweepwatch_http_requests_total{route=\"/api/v1/alerts/{id}\",status=\"404\"}")
        .await;
    assert_eq!(n, 3.0);
    let text = t.svc.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("sweepwatch_http_request_seconds_bucket{route=\"/api/v1/alerts/{id}\""));
    assert!(!text.contains("route=\"/api/v1/alerts/1\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_for_unknown_tokens_unknown_paths_and_wrong_bodies() {
    let t = ApiTown::start().await;
    t.call(Method::GET, "/api/v1/positions", None, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    t.get("/api/v1/positions", "not-a-token")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    t.get("/api/v1/nothing-here", VIEWER)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    // Ids that are not ids name no resource; a method a path does not take.
    for path in [
        "/api/v1/alerts/abc",
        "/api/v1/alerts/99999999999999999999",
        "/api/v1/devices/1.5/track?from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z",
        "/api/v1/assignments/x",
    ] {
        let a = t.get(path, VIEWER).await;
        a.assert_problem(StatusCode::NOT_FOUND);
        assert!(
            a.body["detail"]
                .as_str()
                .unwrap()
                .contains("no such resource"),
            "{path}: {}",
            a.text
        );
    }
    t.call(Method::DELETE, "/api/v1/positions", Some(ADMIN), None)
        .await
        .assert_problem(StatusCode::METHOD_NOT_ALLOWED);
    // A body that is not JSON at all.
    let resp = t
        .http
        .post(format!("{}/api/v1/coverage/justify", t.svc.http))
        .bearer_auth(OPERATOR)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let a = answer(resp).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert_eq!(a.content_type, "application/problem+json");
    let _: Value = a.body;
    // NUL characters, which no column can store, are the caller's mistake.
    t.get("/api/v1/alerts?org=a%00b", VIEWER)
        .await
        .assert_invalid("org");
    t.get("/api/v1/areas/humen/a%00b", VIEWER)
        .await
        .assert_invalid("request");
    t.post(
        "/api/v1/alerts/1/ack",
        OPERATOR,
        json!({"note": "nul \u{0}"}),
    )
    .await
    .assert_invalid("body");
}

pub fn urlenc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
