//! Tokens managed through the API, without a restart: created (the secret
//! answered once, only its hash stored), listed (never the secret), used,
//! revoked (refused within a second, by every instance), and the audit log of
//! token and configuration changes, readable by admins only.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::api::{ADMIN, ApiTown, OPERATOR, TOKENS, VIEWER};
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

const H_ADMIN: &str = "h-admin-token";

fn env_tokens() -> String {
    format!("{TOKENS},h-admin:admin@humen:{H_ADMIN}")
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The hex SHA-256 of `s`, computed by PostgreSQL.
async fn sha256_hex(t: &ApiTown, s: &str) -> String {
    t.db.client()
        .await
        .query_one(
            "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')",
            &[&s],
        )
        .await
        .unwrap()
        .get(0)
}

async fn me(http: &reqwest::Client, base: &str, token: &str) -> StatusCode {
    http.get(format!("{base}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_creates_lists_and_revokes_tokens_and_a_revoked_token_fails_within_a_second() {
    let tokens = env_tokens();
    let env = [
        ("SWEEPWATCH_API_TOKENS", tokens.as_str()),
        ("SWEEPWATCH_API_TOKEN_LAST_USED_FLUSH_S", "1"),
    ];
    let mut t = ApiTown::start_with(&env).await;
    // A second instance on the same database: a revocation must reach it too.
    let other = Service::start(&t.db.url, &t.broker.url(), &unique("api-2-"), &env).await;

    // Only admins manage tokens.
    for token in [VIEWER, OPERATOR] {
        t.get("/api/v1/tokens", token)
            .await
            .assert_problem(StatusCode::FORBIDDEN);
        t.post(
            "/api/v1/tokens",
            token,
            json!({"name": "x", "role": "viewer"}),
        )
        .await
        .assert_problem(StatusCode::FORBIDDEN);
        t.call(Method::DELETE, "/api/v1/tokens/wall", Some(token), None)
            .await
            .assert_problem(StatusCode::FORBIDDEN);
    }

    let made = t
        .post(
            "/api/v1/tokens",
            ADMIN,
            json!({"name": "desk-7", "role": "operator", "orgs": ["humen"]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let secret = made.body["token"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 40, "{secret}");
    assert_eq!(made.body["created_by"], "boss");
    assert_eq!(made.body["orgs"], json!(["humen"]));
    // Only its hash is stored.
    let secret_hash = sha256_hex(&t, &secret).await;
    let stored =
        t.db.count(&format!(
            "SELECT count(*) FROM api_tokens WHERE name = 'desk-7' AND sha256 = '{secret_hash}'"
        ))
        .await;
    assert_eq!(stored, 1);
    let leaked =
        t.db.count(&format!(
            "SELECT count(*) FROM api_tokens WHERE row_to_json(api_tokens)::text LIKE '%{secret}%'"
        ))
        .await;
    assert_eq!(leaked, 0, "the secret is stored in clear");
    // Names are unique among live tokens and the configuration's.
    for name in ["desk-7", "wall"] {
        t.post(
            "/api/v1/tokens",
            ADMIN,
            json!({"name": name, "role": "viewer"}),
        )
        .await
        .assert_problem(StatusCode::CONFLICT);
    }
    t.post(
        "/api/v1/tokens",
        ADMIN,
        json!({"name": "bad name", "role": "viewer"}),
    )
    .await
    .assert_invalid("name");
    t.post(
        "/api/v1/tokens",
        ADMIN,
        json!({"name": "x", "role": "root"}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // The new token works at once, here and on the other instance, with its
    // role and orgs; without a restart.
    let a = t.get("/api/v1/me", &secret).await;
    assert_eq!(
        a.body,
        json!({"name": "desk-7", "role": "operator", "orgs": ["humen"]}),
        "{}",
        a.text
    );
    eventually(
        Duration::from_secs(2),
        "the token on instance 2",
        || async { (me(&t.http, &other.http, &secret).await == StatusCode::OK).then_some(()) },
    )
    .await;
    t.get("/api/v1/devices?org=elsewhere", &secret)
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    // Listed with name, role, orgs, created, last used; never the secret or its hash.
    let list = t.get("/api/v1/tokens", ADMIN).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(!list.text.contains(&secret) && !list.text.contains(&secret_hash));
    let viewer_hash = sha256_hex(&t, VIEWER).await;
    assert!(!list.text.contains(&viewer_hash), "{}", list.text);
    assert!(!list.text.contains("sha256"), "{}", list.text);
    assert_eq!(
        names(&list.body),
        ["boss", "desk-1", "desk-7", "h-admin", "wall"]
    );
    let desk7 = &list.body["items"][2];
    assert_eq!(desk7["role"], "operator");
    assert_eq!(desk7["orgs"], json!(["humen"]));
    assert_eq!(desk7["source"], "api");
    assert_eq!(desk7["created_by"], "boss");
    assert!(desk7["created_at"].is_string(), "{desk7}");
    assert!(desk7["last_used_at"].is_string(), "used above: {desk7}");
    let wall = &list.body["items"][4];
    assert_eq!(wall["source"], "config");
    assert_eq!(wall["orgs"], Value::Null);
    // "Last used" reaches the database (every second here).
    eventually(Duration::from_secs(5), "last_used_at stored", || async {
        (t.db
            .count("SELECT count(*) FROM api_tokens WHERE name = 'desk-7' AND last_used_at IS NOT NULL")
            .await
            == 1)
            .then_some(())
    })
    .await;

    // An admin limited to humen sees the tokens within humen only, and may
    // not make a token of every org.
    let scoped = t.get("/api/v1/tokens", H_ADMIN).await;
    assert_eq!(
        names(&scoped.body),
        ["desk-7", "h-admin"],
        "{}",
        scoped.text
    );
    t.post(
        "/api/v1/tokens",
        H_ADMIN,
        json!({"name": "h-all", "role": "viewer"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    t.post(
        "/api/v1/tokens",
        H_ADMIN,
        json!({"name": "h-b", "role": "viewer", "orgs": ["changan"]}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    t.call(Method::DELETE, "/api/v1/tokens/wall", Some(H_ADMIN), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    // The configuration's tokens cannot be revoked here; unknown names are 404.
    t.call(Method::DELETE, "/api/v1/tokens/wall", Some(ADMIN), None)
        .await
        .assert_problem(StatusCode::CONFLICT);
    t.call(Method::DELETE, "/api/v1/tokens/nobody", Some(ADMIN), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    // A live stream of the token, open on instance 2 when it is revoked.
    let mut stream = t
        .http
        .get(format!("{}/api/v1/stream", other.http))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    // Revoked through this instance: refused by both within a second.
    let revoked = t
        .call(Method::DELETE, "/api/v1/tokens/desk-7", Some(ADMIN), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    let at = Instant::now();
    assert_eq!(
        me(&t.http, &t.svc.http, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    loop {
        let s = me(&t.http, &other.http, &secret).await;
        if s == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(s, StatusCode::OK);
        assert!(
            at.elapsed() < Duration::from_secs(1),
            "instance 2 still takes the revoked token after {:?}",
            at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The open stream is told and ends, within a second too.
    let mut got = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(1).saturating_sub(at.elapsed()), async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            got.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the revoked token's stream is still open after {:?}: {got}",
        at.elapsed()
    );
    assert!(
        got.contains("event: revoked") || got.contains("event:revoked"),
        "{got}"
    );
    t.call(Method::DELETE, "/api/v1/tokens/desk-7", Some(ADMIN), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    assert!(!names(&t.get("/api/v1/tokens", ADMIN).await.body).contains(&"desk-7".to_owned()));
    // The configuration's tokens kept working throughout.
    assert_eq!(me(&t.http, &other.http, VIEWER).await, StatusCode::OK);

    // A token made through the API survives a restart; the revoked one stays revoked.
    let kept = t
        .post(
            "/api/v1/tokens",
            H_ADMIN,
            json!({"name": "desk-7", "role": "viewer", "orgs": ["humen"]}),
        )
        .await;
    assert_eq!(kept.status, StatusCode::CREATED, "{}", kept.text);
    let kept = kept.body["token"].as_str().unwrap().to_owned();
    t.svc.terminate();
    t.svc.restart().await;
    assert_eq!(me(&t.http, &t.svc.http, &kept).await, StatusCode::OK);
    assert_eq!(
        me(&t.http, &t.svc.http, &secret).await,
        StatusCode::UNAUTHORIZED
    );

    // Every change is in the audit log with its actor and time.
    let audit = t.get("/api/v1/audit?action=token.create", ADMIN).await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let entries: Vec<(String, String)> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["at"].is_string(), "{e}");
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["object"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("h-admin".to_owned(), "token/desk-7".to_owned()),
            ("boss".to_owned(), "token/desk-7".to_owned())
        ]
    );
    assert!(!audit.text.contains(&secret) && !audit.text.contains(&kept));
    let revokes = t.get("/api/v1/audit?action=token.revoke", ADMIN).await;
    assert_eq!(
        revokes.body["items"][0]["actor"], "boss",
        "{}",
        revokes.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_configuration_change_is_audited_and_only_admins_read_the_log() {
    let tokens = env_tokens();
    let t = ApiTown::start_with(&[("SWEEPWATCH_API_TOKENS", tokens.as_str())]).await;
    let started = chrono::Utc::now();
    // The import that loaded the town is the first entry.
    let import = t.get("/api/v1/audit?action=org.import", ADMIN).await;
    assert_eq!(
        import.body["items"][0]["actor"], "sweepwatch import",
        "{}",
        import.text
    );
    assert_eq!(import.body["items"][0]["orgs"], json!(["humen"]));

    let dev = t
        .post(
            "/api/v1/devices",
            ADMIN,
            json!({"org": "humen", "device": "new-1", "kind": "worker"}),
        )
        .await;
    assert_eq!(dev.status, 201, "{}", dev.text);
    let id = dev.body["id"].as_i64().unwrap();
    let put = |path: String, body: Value| {
        let t = &t;
        async move { t.call(Method::PUT, &path, Some(H_ADMIN), Some(body)).await }
    };
    assert_eq!(
        put(format!("/api/v1/devices/{id}"), json!({"kind": "washer"}))
            .await
            .status,
        200
    );
    let shift = json!({"id": "extra", "weekly": [{"days": ["Mon"], "start": "01:00:00", "end": "02:00:00"}]});
    assert_eq!(
        t.post("/api/v1/shifts/humen", ADMIN, shift.clone())
            .await
            .status,
        201
    );
    let mut renamed = shift.clone();
    renamed["name"] = json!("renamed");
    assert_eq!(
        put("/api/v1/shifts/humen/extra".into(), renamed)
            .await
            .status,
        200
    );
    let mut area = crate::helpers::town::scenario()["areas"]["features"][0].clone();
    area["id"] = json!("extra-area");
    assert_eq!(
        t.post("/api/v1/areas/humen", ADMIN, area.clone())
            .await
            .status,
        201
    );
    area["properties"]["name"] = json!("renamed");
    assert_eq!(
        put("/api/v1/areas/humen/extra-area".into(), area)
            .await
            .status,
        200
    );
    let asg = t
        .post(
            "/api/v1/assignments",
            ADMIN,
            json!({"device_id": id, "area": "extra-area", "shift": "extra"}),
        )
        .await;
    assert_eq!(asg.status, 201, "{}", asg.text);
    let asg = asg.body["id"].as_i64().unwrap();
    assert_eq!(
        put(
            format!("/api/v1/assignments/{asg}"),
            json!({"device_id": id, "area": "extra-area", "shift": "extra", "valid_to": "2099-01-01T00:00:00Z"})
        )
        .await
        .status,
        200
    );
    for path in [
        format!("/api/v1/assignments/{asg}"),
        format!("/api/v1/devices/{id}"),
        "/api/v1/areas/humen/extra-area".to_owned(),
        "/api/v1/shifts/humen/extra".to_owned(),
    ] {
        let d = t.call(Method::DELETE, &path, Some(ADMIN), None).await;
        assert_eq!(d.status, 204, "{path}: {}", d.text);
    }
    // A change that fails is not recorded.
    t.post(
        "/api/v1/devices",
        ADMIN,
        json!({"org": "humen", "device": "sw-1", "kind": "worker"}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT);

    let log = t
        .get(
            &format!(
                "/api/v1/audit?from={}&limit=1000",
                super::urlenc(&started.to_rfc3339())
            ),
            ADMIN,
        )
        .await;
    assert_eq!(log.status, 200, "{}", log.text);
    let mut seen: Vec<(String, String)> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let at = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap();
            assert!(at >= started, "{e}");
            assert_eq!(e["orgs"], json!(["humen"]), "{e}");
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.reverse(); // newest first → in the order made
    let want: Vec<(String, String)> = [
        ("device.create", "boss"),
        ("device.update", "h-admin"),
        ("shift.create", "boss"),
        ("shift.update", "h-admin"),
        ("area.create", "boss"),
        ("area.update", "h-admin"),
        ("assignment.create", "boss"),
        ("assignment.update", "h-admin"),
        ("assignment.delete", "boss"),
        ("device.delete", "boss"),
        ("area.delete", "boss"),
        ("shift.delete", "boss"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(seen, want, "{}", log.text);
    // The deleted device's entry holds what it was.
    let deleted = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "device.delete")
        .unwrap();
    assert_eq!(deleted["detail"]["kind"], "washer", "{deleted}");

    // Admins only; an admin of another org reads nothing of humen.
    for token in [VIEWER, OPERATOR] {
        t.get("/api/v1/audit", token)
            .await
            .assert_problem(StatusCode::FORBIDDEN);
    }
    t.get("/api/v1/audit?org=changan", H_ADMIN)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    let scoped = t.get("/api/v1/audit?limit=1000", H_ADMIN).await;
    assert_eq!(
        scoped.body["items"].as_array().unwrap().len(),
        want.len() + 1,
        "humen's changes and its import: {}",
        scoped.text
    );
    // Pages follow the cursor.
    let first = t.get("/api/v1/audit?limit=5", ADMIN).await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = t
        .get(
            &format!("/api/v1/audit?limit=5&cursor={}", super::urlenc(cursor)),
            ADMIN,
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert!(second.body["items"][0]["id"].as_i64() < first.body["items"][4]["id"].as_i64());
}
