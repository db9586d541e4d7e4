//! The attack suite, against a running `sweepwatch serve`: no token or a
//! wrong one on every route of the OpenAPI document, a token brute force
//! (slowed per client, 429), SQL metacharacters and oversized values in every
//! query and path parameter, bodies over the limit, clients that trickle
//! their headers, more live streams than a token may hold, CORS from unknown
//! origins, and the security headers of every kind of answer.
//!
//! The routes come from the served document, so a new route is attacked
//! without a change here.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::api::{ADMIN, ApiTown, TOKENS, VIEWER, answer};
use crate::helpers::eventually;

/// An operation of the document: method, path template, its parameters
/// (name, in), and whether it takes a body.
struct Op {
    id: String,
    method: Method,
    path: String,
    params: Vec<(String, String)>,
    body: bool,
}

async fn operations(t: &ApiTown) -> Vec<Op> {
    let doc = t
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    let mut ops = Vec::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        if path == "/api/v1/openapi.json" || !path.starts_with("/api/v1/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_owned(),
                        p["in"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            ops.push(Op {
                id: op["operationId"].as_str().unwrap().to_owned(),
                method: method.to_uppercase().parse().unwrap(),
                path: path.clone(),
                params,
                body: op.get("requestBody").is_some(),
            });
        }
    }
    assert!(ops.len() >= 35, "{} operations", ops.len());
    ops
}

/// The path with each `{param}` replaced by `value(param)`.
fn fill(path: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str(&rest[..open]);
        out.push_str(&value(&rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

fn plain(param: &str) -> String {
    match param {
        "org" => "humen".into(),
        "id" => "1".into(),
        _ => "x".into(),
    }
}

/// Sends a request and returns its answer; a live stream that is accepted is
/// answered by its status and headers only.
async fn send(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path_and_query: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> crate::helpers::api::Answer {
    let mut req = http.request(method, format!("{base}{path_and_query}"));
    if let Some(a) = auth {
        req = req.header(reqwest::header::AUTHORIZATION, a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("an answer");
    if resp.status().is_success()
        && resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
    {
        return crate::helpers::api::Answer {
            status: resp.status(),
            content_type: "text/event-stream".into(),
            body: Value::Null,
            text: String::new(),
        };
    }
    answer(resp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_requests_without_a_valid_token() {
    // The failure limit is off here: every wrong token must be answered 401.
    let t = ApiTown::start_with(&[
        ("SWEEPWATCH_API_TOKENS", TOKENS),
        ("SWEEPWATCH_API_AUTH_FAILURES_BURST", "0"),
    ])
    .await;
    let long = format!("Bearer {}", "a".repeat(8192));
    let almost = format!("Bearer {}", &VIEWER[..VIEWER.len() - 1]);
    let viewer_lower = format!("Bearer {}", VIEWER.to_uppercase());
    let wrong: [Option<&str>; 9] = [
        None,
        Some("Bearer wrong-token"),
        Some("Bearer "),
        Some("Basic d2FsbDp2aWV3ZXItdG9rZW4="), // wall:viewer-token
        Some(VIEWER),                           // no scheme
        Some(&almost),
        Some(&viewer_lower),
        Some(&long),
        Some("Bearer ' OR '1'='1"),
    ];
    let mut n = 0;
    for op in operations(&t).await {
        let path = fill(&op.path, plain);
        let body = op.body.then(|| json!({"name": "x"}));
        for auth in wrong {
            let a = send(
                &t.http,
                &t.svc.http,
                op.method.clone(),
                &path,
                auth,
                body.clone(),
            )
            .await;
            let what = format!("{} {} {path} with {auth:?}", op.id, op.method);
            a.assert_problem(StatusCode::UNAUTHORIZED);
            assert!(!a.text.contains("viewer-token"), "{what}: {}", a.text);
            n += 1;
        }
    }
    assert!(n >= 35 * 9, "{n}");
    // Nothing was changed by any of them.
    assert_eq!(
        t.db.count("SELECT count(*) FROM audit_log WHERE actor <> 'sweepwatch import'")
            .await,
        0
    );
    assert_eq!(t.db.count("SELECT count(*) FROM api_tokens").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_brute_force_is_slowed_per_client() {
    // The defaults: 10 failures in a burst, then one every 10 s.
    let t = ApiTown::start().await;
    let mut statuses = Vec::new();
    for i in 0..20 {
        let a = t.get("/api/v1/me", &format!("guess-{i}")).await;
        statuses.push(a.status.as_u16());
    }
    assert_eq!(statuses[..10], [401; 10], "{statuses:?}");
    assert_eq!(statuses[10..], [429; 10], "{statuses:?}");
    // While blocked, even the right token is refused (were it let through, the
    // answer would tell a guesser which guess was right), with Retry-After.
    let resp = t
        .http
        .get(format!("{}/api/v1/me", t.svc.http))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    answer(resp)
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS);
    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    let spoofed = t
        .http
        .get(format!("{}/api/v1/me", t.svc.http))
        .bearer_auth("guess-x")
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 429);
    // Another client (another loopback address) is not held up.
    let other = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let a = other
        .get(format!("{}/api/v1/me", t.svc.http))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);
    // The open endpoints stay open to the blocked client.
    assert_eq!(t.svc.get("/healthz").await.status(), 200);
}

/// Hostile values for a query or path parameter: SQL metacharacters,
/// NUL, huge numbers, and oversized strings.
fn hostile() -> Vec<String> {
    vec![
        "' OR '1'='1".into(),
        "1; DROP TABLE devices; --".into(),
        "1' UNION SELECT sha256, name FROM api_tokens --".into(),
        "\"); DELETE FROM alerts; --".into(),
        "%' AND pg_sleep(5) IS NULL --".into(),
        "\\' \\\\ ; -- /* */".into(),
        "\u{0}".into(),
        "\u{fffd}\u{202e}".into(),
        "99999999999999999999999999999".into(),
        "-9223372036854775809".into(),
        "1e309".into(),
        "NaN".into(),
        "x".repeat(8 * 1024),
        // 48 KiB once encoded: near the longest URI a client library sends.
        "'".repeat(16 * 1024),
    ]
}

fn enc(s: &str) -> String {
    super::urlenc(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_metacharacters_and_oversized_values_in_every_parameter_are_refused_cleanly() {
    let t = ApiTown::start_with(&[
        ("SWEEPWATCH_API_TOKENS", TOKENS),
        ("SWEEPWATCH_API_RATE_PER_S", "10000"),
        ("SWEEPWATCH_API_RATE_BURST", "100000"),
    ])
    .await;
    t.standard_day().await;
    let tables =
        "SELECT (SELECT count(*) FROM devices) * 1000000 + (SELECT count(*) FROM alerts) * 1000
                  + (SELECT count(*) FROM areas) + (SELECT count(*) FROM api_tokens)";
    let before = t.db.count(tables).await;
    let mut n = 0;
    let mut slowest = Duration::ZERO;
    for op in operations(&t).await {
        for (name, place) in &op.params {
            for v in hostile() {
                let path_and_query = match place.as_str() {
                    "query" => {
                        let base = fill(&op.path, plain);
                        format!("{base}?{}={}", enc(name), enc(&v))
                    }
                    "path" => fill(&op.path, |p| if p == name { enc(&v) } else { plain(p) }),
                    _ => continue,
                };
                // Reads only: a write with a hostile id is still checked, but
                // with an empty body (the body's fields have their own tests).
                let body = op.body.then(|| json!({}));
                let at = Instant::now();
                let a = send(
                    &t.http,
                    &t.svc.http,
                    op.method.clone(),
                    &path_and_query,
                    Some(&format!("Bearer {ADMIN}")),
                    body,
                )
                .await;
                slowest = slowest.max(at.elapsed());
                let shown: String = v.chars().take(40).collect();
                let what = format!(
                    "{} {} with {name}={shown:?} ({} chars): {} {}",
                    op.id,
                    op.method,
                    v.len(),
                    a.status,
                    a.text.chars().take(300).collect::<String>()
                );
                n += 1;
                assert!(!a.status.is_server_error(), "a server error: {what}");
                if a.status.is_client_error() {
                    assert_eq!(a.content_type, "application/problem+json", "{what}");
                    assert!(
                        a.text.len() < 4096,
                        "the problem echoes the value back in full: {what}"
                    );
                }
                assert!(!a.text.to_lowercase().contains("syntax error"), "{what}");
                assert!(!a.text.contains("postgres"), "{what}");
            }
        }
    }
    assert!(n >= 500, "{n} requests");
    // pg_sleep never ran; nothing was dropped, deleted or read out.
    assert!(slowest < Duration::from_secs(5), "{slowest:?}");
    assert_eq!(t.db.count(tables).await, before);
    assert_eq!(
        t.get("/api/v1/devices", VIEWER).await.status,
        200,
        "still serving"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused_with_413() {
    let t = ApiTown::start().await;
    let limit = 1024 * 1024; // api.max_body_bytes
    let big =
        json!({"org": "humen", "device": "x", "kind": "worker", "pad": "x".repeat(limit + 1)});
    let mut n = 0;
    for op in operations(&t).await.into_iter().filter(|o| o.body) {
        let path = fill(&op.path, plain);
        let a = send(
            &t.http,
            &t.svc.http,
            op.method.clone(),
            &path,
            Some(&format!("Bearer {ADMIN}")),
            Some(big.clone()),
        )
        .await;
        a.assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
        n += 1;
    }
    assert!(n >= 10, "{n} operations with a body");
    // Without a Content-Length (chunked), the limit holds as the body streams
    // in: the server answers 413 (or cuts the upload) without reading it all.
    let addr = t.svc.http.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("20000\r\n{}\r\n", " ".repeat(0x20000));
    for _ in 0..64 {
        // 8 MiB in all, unless the server stops reading.
        if s.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let got = until_closed(&mut s, Duration::from_secs(10))
        .await
        .unwrap_or_default();
    assert!(
        got.is_empty() || got.starts_with("HTTP/1.1 413"),
        "{}",
        got.lines().next().unwrap_or_default()
    );
    assert_eq!(
        t.db.count("SELECT count(*) FROM devices WHERE name = 'x'")
            .await,
        0
    );
    assert_eq!(t.get("/api/v1/me", VIEWER).await.status, 200);
}

/// Reads until the server closes the connection; what it sent.
async fn until_closed(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&got).into()),
            Ok(Ok(k)) => got.extend_from_slice(&buf[..k]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_trickle_their_headers_are_cut_off() {
    let t = ApiTown::start_with(&[
        ("SWEEPWATCH_API_TOKENS", TOKENS),
        ("SWEEPWATCH_API_HEADER_READ_TIMEOUT_S", "1"),
    ])
    .await;
    let addr = t.svc.http.trim_start_matches("http://").to_owned();
    // Fifty slow clients, each sending a header byte every 200 ms.
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    let started = Instant::now();
    let trickle = async {
        let mut cut = vec![false; slow.len()];
        while cut.iter().any(|c| !c) && started.elapsed() < Duration::from_secs(10) {
            for (s, c) in slow.iter_mut().zip(cut.iter_mut()) {
                if !*c && s.write_all(b"X").await.is_err() {
                    *c = true;
                }
                // A close (perhaps after a 408) makes a read end at once; on a
                // connection still open it would wait.
                let mut b = [0u8; 512];
                if !*c
                    && tokio::time::timeout(Duration::from_millis(1), s.read(&mut b))
                        .await
                        .is_ok()
                {
                    *c = true;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        cut
    };
    // Meanwhile an ordinary client is served.
    let (cut, ordinary) = tokio::join!(trickle, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        t.get("/api/v1/me", VIEWER).await.status
    });
    assert_eq!(ordinary, 200);
    let elapsed = started.elapsed();
    assert!(
        cut.iter().all(|c| *c),
        "some slow clients still connected after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(4),
        "cut off after {elapsed:?}"
    );

    // An idle connection that never sends a header is cut too.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    assert!(
        until_closed(&mut idle, Duration::from_secs(4))
            .await
            .is_some(),
        "an idle connection was kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_live_streams_than_a_token_may_hold_are_refused_with_429() {
    let t = ApiTown::start_with(&[
        ("SWEEPWATCH_API_TOKENS", TOKENS),
        ("SWEEPWATCH_API_STREAM_MAX_PER_TOKEN", "2"),
    ])
    .await;
    let open = |token: &'static str| {
        let http = reqwest::Client::new();
        let url = format!("{}/api/v1/stream", t.svc.http);
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let first = open(VIEWER).await;
    let second = open(VIEWER).await;
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    let third = open(VIEWER).await;
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    answer(third)
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS);
    // Another token has its own.
    let admin = open(ADMIN).await;
    assert_eq!(admin.status(), 200);
    // A stream closed frees its slot.
    drop(first);
    eventually(
        Duration::from_secs(20),
        "a slot freed by a closed stream",
        || async {
            let again = open(VIEWER).await;
            (again.status() == 200).then_some(again)
        },
    )
    .await;
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_the_configured_origin_only() {
    let t = ApiTown::start_with(&[
        ("SWEEPWATCH_API_TOKENS", TOKENS),
        ("SWEEPWATCH_API_CORS_ORIGINS", "https://dispatch.example"),
    ])
    .await;
    let preflight = |origin: &'static str| {
        t.http
            .request(Method::OPTIONS, format!("{}/api/v1/alerts", t.svc.http))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight("https://dispatch.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://dispatch.example"
    );
    for evil in [
        "https://evil.example",
        "https://dispatch.example.evil.example",
        "http://dispatch.example",
        "null",
    ] {
        let no = preflight(evil).await.unwrap();
        assert!(
            !no.headers().contains_key("access-control-allow-origin"),
            "{evil}: {:?}",
            no.headers()
        );
        let get = t
            .http
            .get(format!("{}/api/v1/alerts", t.svc.http))
            .bearer_auth(VIEWER)
            .header("origin", evil)
            .send()
            .await
            .unwrap();
        assert!(
            !get.headers().contains_key("access-control-allow-origin"),
            "{evil}"
        );
        assert!(
            !get.headers()
                .contains_key("access-control-allow-credentials")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_answer_carries_the_security_headers() {
    let t = ApiTown::start().await;
    let get = |path: &str, token: Option<&'static str>| {
        let mut r = t.http.get(format!("{}{path}", t.svc.http));
        if let Some(tok) = token {
            r = r.bearer_auth(tok);
        }
        r.send()
    };
    let cases: Vec<(&str, Option<&'static str>)> = vec![
        ("/api/v1/me", Some(VIEWER)),
        ("/api/v1/me", None),
        ("/api/v1/alerts/999999", Some(VIEWER)),
        ("/api/v1/alerts?limit=0", Some(VIEWER)),
        ("/api/v1/nothing", Some(VIEWER)),
        ("/api/v1/openapi.json", None),
        (
            "/api/v1/reports/shift?date=2026-01-01&format=csv",
            Some(VIEWER),
        ),
        ("/healthz", None),
        ("/readyz", None),
        ("/metrics", None),
    ];
    for (path, token) in cases {
        let r = get(path, token).await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
    // The dashboard's page (built or not) and its files: the page's own
    // policy, which lets it load only itself.
    for path in ["/", "/config.json", "/assets/missing.js", "/index.html"] {
        let r = get(path, None).await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-eval") && !csp.contains("script-src 'self' 'unsafe-inline'"));
    }
}
