//! Tenancy: a token limited to org A sees and acts on A only.
//!
//! The matrix is driven by the served OpenAPI document: every `/api/v1`
//! operation in it is exercised with a viewer, an operator and an admin
//! limited to A, against an object of A (answered as the role allows, with
//! nothing of B in the answer) and against the same object of B (404, with
//! the same detail as an id that does not exist; 403 first where the role
//! does not suffice, which says nothing about the object). An operation
//! without a case here fails the test, so a new route cannot be forgotten.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::towns::{A, A_ADMIN, A_OPERATOR, A_VIEWER, B, Towns};
use crate::helpers::api::{ADMIN, Answer, VIEWER};
use crate::helpers::town;

#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
enum Need {
    Viewer,
    Operator,
    Admin,
}

struct Req {
    method: Method,
    path: String,
    body: Option<Value>,
    /// The object's id in the path, and an id that names nothing, to compare
    /// the answer for another org's object with the answer for no object.
    id: Option<(String, &'static str)>,
}

struct Case {
    need: Need,
    req: Req,
    /// The answer when the role suffices and the object is the token's org's.
    ok: StatusCode,
}

fn req(method: Method, path: String) -> Req {
    Req {
        method,
        path,
        body: None,
        id: None,
    }
}

impl Req {
    fn body(mut self, b: Value) -> Self {
        self.body = Some(b);
        self
    }

    fn id(mut self, id: impl ToString, absent: &'static str) -> Self {
        self.id = Some((id.to_string(), absent));
        self
    }
}

struct Fx {
    w: Towns,
    n: AtomicU32,
    /// Objects of B that requests of A's tokens tried to delete or change:
    /// (what, SQL that counts it as it was).
    survivors: Mutex<Vec<(String, String)>>,
}

impl Fx {
    fn uniq(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.n.fetch_add(1, Ordering::Relaxed))
    }

    fn survives(&self, org: &str, what: String, sql: String) {
        if org == B {
            self.survivors.lock().unwrap().push((what, sql));
        }
    }

    async fn exec(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) {
        self.w
            .t
            .db
            .client()
            .await
            .execute(sql, params)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn sw1(&self, org: &str) -> i32 {
        self.w.device_id(org, "sw-1").await
    }

    async fn fresh_device(&self, org: &str) -> i32 {
        let id: i32 = self
            .w
            .one(
                "INSERT INTO devices (org, name, kind) VALUES ($1, $2, 'worker') RETURNING id",
                &[&org, &self.uniq("fresh-")],
            )
            .await;
        self.survives(
            org,
            format!("device {id}"),
            format!("SELECT count(*) FROM devices WHERE id = {id} AND kind = 'worker'"),
        );
        id
    }

    async fn fresh_alert(&self, org: &str) -> i64 {
        let device = self.fresh_device(org).await;
        let id: i64 = self
            .w
            .one(
                "INSERT INTO alerts (org, device_id, kind, state, opened_at, lat, lon, message)
                 VALUES ($1, $2, 'sos', 'open', now(), 22.8, 113.6, 'SOS') RETURNING id",
                &[&org, &device],
            )
            .await;
        self.survives(
            org,
            format!("alert {id}"),
            format!("SELECT count(*) FROM alerts WHERE id = {id} AND state = 'open'"),
        );
        id
    }

    fn feature(id: &str) -> Value {
        let mut f = town::scenario()["areas"]["features"][0].clone();
        f["id"] = json!(id);
        f
    }

    fn shift(id: &str) -> Value {
        json!({"id": id, "weekly": [{"days": ["Mon"], "start": "01:00:00", "end": "02:00:00"}]})
    }

    async fn fresh_area(&self, org: &str) -> String {
        let id = self.uniq("area-");
        self.exec(
            "INSERT INTO areas (org, id, name, kind, feature) VALUES ($1, $2, 'fresh', 'route', $3)",
            &[&org, &id, &Self::feature(&id)],
        )
        .await;
        self.survives(
            org,
            format!("area {org}/{id}"),
            format!(
                "SELECT count(*) FROM areas WHERE org = '{org}' AND id = '{id}' AND name = 'fresh'"
            ),
        );
        id
    }

    async fn fresh_shift(&self, org: &str) -> String {
        let id = self.uniq("shift-");
        self.exec(
            "INSERT INTO shifts (org, id, name, definition) VALUES ($1, $2, 'fresh', $3)",
            &[&org, &id, &Self::shift(&id)],
        )
        .await;
        self.survives(
            org,
            format!("shift {org}/{id}"),
            format!(
                "SELECT count(*) FROM shifts WHERE org = '{org}' AND id = '{id}' AND name = 'fresh'"
            ),
        );
        id
    }

    async fn fresh_assignment(&self, org: &str) -> i64 {
        let device = self.sw1(org).await;
        let id: i64 = self
            .w
            .one(
                "INSERT INTO assignments (org, device_id, area_id, shift_id, valid_from)
                 VALUES ($1, $2, 'route-a', 'night', '2020-01-01T00:00:00Z') RETURNING id",
                &[&org, &device],
            )
            .await;
        self.survives(
            org,
            format!("assignment {id}"),
            format!("SELECT count(*) FROM assignments WHERE id = {id} AND shift_id = 'night'"),
        );
        id
    }

    /// A token limited to `org`, created by the city-wide admin.
    async fn fresh_token(&self, org: &str) -> String {
        let name = self.uniq(&format!("{org}-tok-"));
        let a = self
            .w
            .t
            .post(
                "/api/v1/tokens",
                ADMIN,
                json!({"name": name, "role": "viewer", "orgs": [org]}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        self.survives(
            org,
            format!("token {name}"),
            format!("SELECT count(*) FROM api_tokens WHERE name = '{name}' AND revoked_at IS NULL"),
        );
        name
    }

    /// The request of operation `op` on an object of `org`; `None` when the
    /// operation names no object of an org (`/me`, for B).
    async fn case(&self, op: &str, org: &str) -> Option<Case> {
        use Method as M;
        use Need::*;
        let d = self.w.date;
        let of_b = org == B;
        // Lists: unfiltered for A (the token's orgs are the filter), `org=B` for B.
        let list = |path: &str| {
            let sep = if path.contains('?') { '&' } else { '?' };
            if of_b {
                format!("{path}{sep}org={B}")
            } else {
                path.to_owned()
            }
        };
        let (need, r, ok) = match op {
            "me" if of_b => return None,
            "me" => (Viewer, req(M::GET, "/api/v1/me".into()), StatusCode::OK),
            "positions" => (
                Viewer,
                req(M::GET, list("/api/v1/positions")),
                StatusCode::OK,
            ),
            "stream" => (Viewer, req(M::GET, list("/api/v1/stream")), StatusCode::OK),
            "list_alerts" => (Viewer, req(M::GET, list("/api/v1/alerts")), StatusCode::OK),
            "get_alert" => {
                let id: i64 = self
                    .w
                    .one(
                        "SELECT min(id) FROM alerts WHERE org = $1 AND kind = 'sos'",
                        &[&org],
                    )
                    .await;
                let r = req(M::GET, format!("/api/v1/alerts/{id}")).id(id, "999999999");
                (Viewer, r, StatusCode::OK)
            }
            "ack_alert" | "resolve_alert" => {
                let id = self.fresh_alert(org).await;
                let action = if op == "ack_alert" { "ack" } else { "resolve" };
                let r = req(M::POST, format!("/api/v1/alerts/{id}/{action}"))
                    .body(json!({"note": "checked"}))
                    .id(id, "999999999");
                (Operator, r, StatusCode::OK)
            }
            "coverage" => {
                let path = format!("/api/v1/coverage?route=route-a&shift=day&date={d}");
                (Viewer, req(M::GET, list(&path)), StatusCode::OK)
            }
            "justify_coverage" => {
                let from = f64::from(self.n.fetch_add(1, Ordering::Relaxed));
                let mut body = json!({"route": "route-a", "shift": "day", "date": d,
                    "from_m": from, "to_m": from + 0.5, "note": "parked cars"});
                if of_b {
                    body["org"] = json!(B);
                }
                let r = req(M::POST, "/api/v1/coverage/justify".into()).body(body);
                (Operator, r, StatusCode::CREATED)
            }
            "device_track" => {
                let id = self.sw1(org).await;
                let (from, to) = (town::local(d, 5, 0, 0), town::local(d, 8, 0, 0));
                let path = format!(
                    "/api/v1/devices/{id}/track?from={}&to={}",
                    enc(&from),
                    enc(&to)
                );
                (Viewer, req(M::GET, path).id(id, "999999"), StatusCode::OK)
            }
            "shift_report" => {
                let path = format!("/api/v1/reports/shift?date={d}");
                (Viewer, req(M::GET, list(&path)), StatusCode::OK)
            }
            "devices_report" => {
                let path = format!("/api/v1/reports/devices?date={d}");
                (Viewer, req(M::GET, list(&path)), StatusCode::OK)
            }
            "list_devices" => (Viewer, req(M::GET, list("/api/v1/devices")), StatusCode::OK),
            "get_device" => {
                let id = self.sw1(org).await;
                let r = req(M::GET, format!("/api/v1/devices/{id}")).id(id, "999999");
                (Viewer, r, StatusCode::OK)
            }
            "create_device" => {
                let body = json!({"org": org, "device": self.uniq("new-"), "kind": "worker"});
                let r = req(M::POST, "/api/v1/devices".into()).body(body);
                (Admin, r, StatusCode::CREATED)
            }
            "update_device" => {
                let id = self.fresh_device(org).await;
                let r = req(M::PUT, format!("/api/v1/devices/{id}"))
                    .body(json!({"kind": "washer"}))
                    .id(id, "999999");
                (Admin, r, StatusCode::OK)
            }
            "delete_device" => {
                let id = self.fresh_device(org).await;
                let r = req(M::DELETE, format!("/api/v1/devices/{id}")).id(id, "999999");
                (Admin, r, StatusCode::NO_CONTENT)
            }
            "list_areas" => (Viewer, req(M::GET, list("/api/v1/areas")), StatusCode::OK),
            "get_area" => {
                let r =
                    req(M::GET, format!("/api/v1/areas/{org}/route-a")).id("route-a", "zz-none");
                (Viewer, r, StatusCode::OK)
            }
            "create_area" => {
                let id = self.uniq("new-area-");
                let r = req(M::POST, format!("/api/v1/areas/{org}")).body(Self::feature(&id));
                (Admin, r, StatusCode::CREATED)
            }
            "update_area" => {
                let id = self.fresh_area(org).await;
                let mut f = Self::feature(&id);
                f["properties"]["name"] = json!("renamed");
                let r = req(M::PUT, format!("/api/v1/areas/{org}/{id}"))
                    .body(f)
                    .id(&id, "zz-none");
                (Admin, r, StatusCode::OK)
            }
            "delete_area" => {
                let id = self.fresh_area(org).await;
                let r = req(M::DELETE, format!("/api/v1/areas/{org}/{id}")).id(&id, "zz-none");
                (Admin, r, StatusCode::NO_CONTENT)
            }
            "list_shifts" => (Viewer, req(M::GET, list("/api/v1/shifts")), StatusCode::OK),
            "get_shift" => {
                let r = req(M::GET, format!("/api/v1/shifts/{org}/day")).id("day", "zz-none");
                (Viewer, r, StatusCode::OK)
            }
            "create_shift" => {
                let id = self.uniq("new-shift-");
                let r = req(M::POST, format!("/api/v1/shifts/{org}")).body(Self::shift(&id));
                (Admin, r, StatusCode::CREATED)
            }
            "update_shift" => {
                let id = self.fresh_shift(org).await;
                let mut s = Self::shift(&id);
                s["name"] = json!("renamed");
                let r = req(M::PUT, format!("/api/v1/shifts/{org}/{id}"))
                    .body(s)
                    .id(&id, "zz-none");
                (Admin, r, StatusCode::OK)
            }
            "delete_shift" => {
                let id = self.fresh_shift(org).await;
                let r = req(M::DELETE, format!("/api/v1/shifts/{org}/{id}")).id(&id, "zz-none");
                (Admin, r, StatusCode::NO_CONTENT)
            }
            "list_assignments" => (
                Viewer,
                req(M::GET, list("/api/v1/assignments")),
                StatusCode::OK,
            ),
            "get_assignment" => {
                let id: i64 = self
                    .w
                    .one("SELECT min(id) FROM assignments WHERE org = $1", &[&org])
                    .await;
                let r = req(M::GET, format!("/api/v1/assignments/{id}")).id(id, "999999999");
                (Viewer, r, StatusCode::OK)
            }
            "create_assignment" => {
                let body =
                    json!({"device_id": self.sw1(org).await, "area": "wash-n", "shift": "night"});
                let r = req(M::POST, "/api/v1/assignments".into()).body(body);
                (Admin, r, StatusCode::CREATED)
            }
            "update_assignment" => {
                let id = self.fresh_assignment(org).await;
                let body =
                    json!({"device_id": self.sw1(org).await, "area": "route-a", "shift": "day"});
                let r = req(M::PUT, format!("/api/v1/assignments/{id}"))
                    .body(body)
                    .id(id, "999999999");
                (Admin, r, StatusCode::OK)
            }
            "delete_assignment" => {
                let id = self.fresh_assignment(org).await;
                let r = req(M::DELETE, format!("/api/v1/assignments/{id}")).id(id, "999999999");
                (Admin, r, StatusCode::NO_CONTENT)
            }
            "list_tokens" => (Admin, req(M::GET, list("/api/v1/tokens")), StatusCode::OK),
            "create_token" => {
                let body = json!({"name": self.uniq("made-"), "role": "viewer", "orgs": [org]});
                let r = req(M::POST, "/api/v1/tokens".into()).body(body);
                (Admin, r, StatusCode::CREATED)
            }
            "revoke_token" => {
                let name = self.fresh_token(org).await;
                let r = req(M::DELETE, format!("/api/v1/tokens/{name}")).id(&name, "zz-none");
                (Admin, r, StatusCode::NO_CONTENT)
            }
            "list_audit" => (Admin, req(M::GET, list("/api/v1/audit")), StatusCode::OK),
            other => panic!(
                "operation {other} of the OpenAPI document has no case in the tenancy matrix \
                 (tests/e2e/api/tenancy.rs): add one"
            ),
        };
        Some(Case { need, req: r, ok })
    }

    async fn send(&self, r: &Req, token: &str) -> Answer {
        if r.path.starts_with("/api/v1/stream") {
            // An endless body: the status and headers are the answer.
            let resp = self
                .w
                .t
                .http
                .get(format!("{}{}", self.w.t.svc.http, r.path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
            if status.is_success() {
                drop(resp);
                return Answer {
                    status,
                    content_type,
                    body: Value::Null,
                    text: String::new(),
                };
            }
            return crate::helpers::api::answer(resp).await;
        }
        self.w
            .t
            .call(r.method.clone(), &r.path, Some(token), r.body.clone())
            .await
    }
}

fn enc(t: &chrono::DateTime<chrono::Utc>) -> String {
    super::urlenc(&t.to_rfc3339())
}

/// The operations of the served document under `/api/v1` that take a token:
/// (operationId, method, path).
async fn operations(w: &Towns) -> Vec<(String, String, String)> {
    let doc =
        w.t.call(Method::GET, "/api/v1/openapi.json", None, None)
            .await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    let mut ops = Vec::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json" {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap().to_owned();
            ops.push((id, method.clone(), path.clone()));
        }
    }
    assert!(ops.len() >= 35, "{} operations", ops.len());
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_a_token_of_org_a_for_a_and_404_for_b() {
    let fx = Fx {
        w: Towns::start(&[]).await,
        n: AtomicU32::new(1),
        survivors: Mutex::default(),
    };
    let roles = [
        (A_VIEWER, Need::Viewer),
        (A_OPERATOR, Need::Operator),
        (A_ADMIN, Need::Admin),
    ];
    let mut exercised = 0;
    for (op, method, path) in operations(&fx.w).await {
        for org in [A, B] {
            for (token, has) in roles {
                let Some(case) = fx.case(&op, org).await else {
                    continue;
                };
                assert_eq!(
                    case.req.method.as_str().to_lowercase(),
                    method,
                    "{op}: the case's method"
                );
                let a = fx.send(&case.req, token).await;
                let what = format!(
                    "{op} ({method} {path}) on {org}'s object as {token}: {} {}",
                    case.req.path, a.text
                );
                exercised += 1;
                if has < case.need {
                    assert_eq!(a.status, StatusCode::FORBIDDEN, "{what}");
                    assert_eq!(a.content_type, "application/problem+json", "{what}");
                    continue;
                }
                if org == A {
                    assert_eq!(a.status, case.ok, "{what}");
                    assert!(
                        !a.text.contains(B),
                        "an answer to A's token names B: {what}"
                    );
                    if op == "me" {
                        assert_eq!(a.body["orgs"], json!([A]), "{what}");
                    }
                    continue;
                }
                a.assert_problem(StatusCode::NOT_FOUND);
                // Exactly the answer for an object that does not exist.
                if let Some((id, absent)) = &case.req.id {
                    let mut none = Req {
                        method: case.req.method.clone(),
                        path: case
                            .req
                            .path
                            .replace(&format!("/{id}"), &format!("/{absent}")),
                        body: case.req.body.clone(),
                        id: None,
                    };
                    if let Some(b) = &mut none.body
                        && b["id"] == json!(id)
                    {
                        b["id"] = json!(absent);
                    }
                    let n = fx.send(&none, token).await;
                    assert_eq!(n.status, a.status, "{what} / {}", n.text);
                    assert_eq!(
                        n.body["detail"].as_str().unwrap().replace(absent, id),
                        a.body["detail"].as_str().unwrap(),
                        "{what}: another org's object must look like no object"
                    );
                }
            }
        }
    }
    assert!(exercised >= 200, "{exercised} requests");

    // Nothing of B changed: what A's tokens tried to edit, delete, acknowledge
    // or resolve is as it was, and no change of B's was recorded by them.
    let survivors = fx.survivors.lock().unwrap().clone();
    assert!(survivors.len() >= 10, "{survivors:?}");
    for (what, sql) in survivors {
        assert_eq!(fx.w.t.db.count(&sql).await, 1, "{what} changed: {sql}");
    }
    let by_a = fx
        .w
        .t
        .db
        .count(
            "SELECT (SELECT count(*) FROM audit_log WHERE actor LIKE 'a-%' AND 'changan' = ANY(orgs))
                  + (SELECT count(*) FROM coverage_justifications WHERE org = 'changan')
                  + (SELECT count(*) FROM api_tokens WHERE 'changan' = ANY(orgs) AND created_by LIKE 'a-%')
                  + (SELECT count(*) FROM devices WHERE org = 'changan' AND name LIKE 'new-%')
                  + (SELECT count(*) FROM areas WHERE org = 'changan' AND id LIKE 'new-%')
                  + (SELECT count(*) FROM shifts WHERE org = 'changan' AND id LIKE 'new-%')
                  + (SELECT count(*) FROM assignments WHERE org = 'changan' AND area_id = 'wash-n'
                       AND device_id = (SELECT id FROM devices WHERE org = 'changan' AND name = 'sw-1'))",
        )
        .await;
    assert_eq!(by_a, 0, "A's tokens changed something of B");
    // And what they changed of A was recorded, by them.
    let audited =
        fx.w.t
            .db
            .count("SELECT count(*) FROM audit_log WHERE actor = 'a-admin' AND orgs = '{humen}'")
            .await;
    assert!(audited >= 12, "{audited} audit entries by a-admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_views_and_the_stream_of_a_token_of_org_a_hold_only_a() {
    let w = Towns::start(&[]).await;
    let d = w.date;
    // The city-wide viewer sees both towns; the humen viewer one.
    for (token, orgs) in [(VIEWER, vec![B, A]), (A_VIEWER, vec![A])] {
        let alerts = w.t.get("/api/v1/alerts?kind=sos", token).await;
        let mut seen: Vec<&str> = alerts.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["org"].as_str().unwrap())
            .collect();
        seen.sort();
        assert_eq!(seen, orgs, "{}", alerts.text);
        let pos = w.t.get("/api/v1/positions", token).await;
        let mut seen: Vec<&str> = pos.body["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["properties"]["org"].as_str().unwrap())
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, orgs, "{}", pos.text);
        let report =
            w.t.get(&format!("/api/v1/reports/shift?date={d}"), token)
                .await;
        let mut seen: Vec<&str> = report.body["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["org"].as_str().unwrap())
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, orgs, "{}", report.text);
        // Coverage without an org: the first org the token sees that has it.
        let cov =
            w.t.get(
                &format!("/api/v1/coverage?route=route-a&shift=day&date={d}"),
                token,
            )
            .await;
        assert_eq!(cov.body["org"], orgs[0], "{}", cov.text);
    }
    // Without a filter, a token of humen gets what the city-wide token gets
    // asking for humen.
    for path in [
        format!("/api/v1/reports/shift?date={d}"),
        format!("/api/v1/reports/devices?date={d}"),
        "/api/v1/devices".to_owned(),
        "/api/v1/assignments".to_owned(),
        "/api/v1/alerts".to_owned(),
    ] {
        let scoped = w.t.get(&path, A_VIEWER).await;
        let sep = if path.contains('?') { '&' } else { '?' };
        let asked = w.t.get(&format!("{path}{sep}org={A}"), VIEWER).await;
        assert_eq!(scoped.status, 200, "{path}: {}", scoped.text);
        let strip = |mut v: Value| {
            v.as_object_mut().map(|o| o.remove("org"));
            v
        };
        assert_eq!(strip(scoped.body), strip(asked.body), "{path}");
    }
    let me = w.t.get("/api/v1/me", VIEWER).await;
    assert_eq!(
        me.body,
        json!({"name": "wall", "role": "viewer", "orgs": null})
    );

    // The stream: the humen viewer gets humen's events only; asking for
    // changan is 404.
    let open = |token: &'static str, query: &'static str| {
        let http = w.t.http.clone();
        let url = format!("{}/api/v1/stream{query}", w.t.svc.http);
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let refused = open(A_VIEWER, "?org=changan").await;
    assert_eq!(refused.status(), 404);
    let mut a_stream = open(A_VIEWER, "").await;
    let mut all_stream = open(VIEWER, "").await;
    assert_eq!(a_stream.status(), 200);
    let now = chrono::Utc::now() - chrono::Duration::seconds(2);
    for org in [B, A] {
        let (lon, lat) = town::pt(10.0, 600.0);
        w.publish_to(
            org,
            &[(
                "wk-2".into(),
                json!({"ts": now.timestamp_millis(), "lat": lat, "lon": lon, "sos": true})
                    .to_string(),
            )],
        )
        .await;
    }
    // The city-wide client sees both SOS presses; by then the humen client
    // has had every event it will get about them.
    let mut all = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !(all.contains("\"org\":\"changan\"") && all.contains("\"org\":\"humen\"")) {
            let chunk = all_stream.chunk().await.unwrap().expect("stream open");
            all.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("both towns' events on the city-wide stream: {all}"));
    let mut mine = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let Ok(Some(chunk)) = a_stream.chunk().await else {
                break;
            };
            mine.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(mine.contains("\"org\":\"humen\""), "{mine}");
    assert!(
        mine.contains("event: alert") || mine.contains("event:alert"),
        "{mine}"
    );
    assert!(
        !mine.contains(B),
        "the humen stream carried changan: {mine}"
    );
}
