//! The live stream: alert transitions (the engine's and the operators') arrive
//! within a second; a client that stops reading delays nothing.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::helpers::api::{ApiTown, OPERATOR, VIEWER, device_payloads};
use crate::helpers::town::{self, local};

/// Reads SSE events until one of `event` kind arrives; its data as JSON.
async fn next_event(
    resp: &mut reqwest::Response,
    buf: &mut String,
    event: &str,
) -> serde_json::Value {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let kind = block
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .map(str::trim);
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .collect();
            if kind == Some(event) {
                return serde_json::from_str(&data).unwrap();
            }
        }
        let chunk = resp.chunk().await.unwrap().expect("stream ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn open(t: &ApiTown, query: &str) -> reqwest::Response {
    let resp = t
        .http
        .get(format!("{}/api/v1/stream{query}", t.svc.http))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    resp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sos_reaches_a_stream_client_within_a_second_and_positions_are_coalesced() {
    let t = ApiTown::start().await;
    let mut all = open(&t, "?org=humen&district=D1").await;
    let mut elsewhere = open(&t, "?org=other").await;
    let d = town::test_date();
    // 30 fixes of one device within 3 seconds: at most a few positions come through.
    let start = local(d, 6, 0, 0);
    let burst: Vec<(String, String)> = (0..30)
        .map(|i| {
            (
                "wk-1".to_owned(),
                town::fix_at(
                    start + chrono::Duration::milliseconds(i * 100),
                    10.0,
                    600.0,
                    1.0,
                    true,
                ),
            )
        })
        .collect();
    t.publish(&burst).await;
    let (lon, lat) = town::pt(20.0, 600.0);
    let sos_at = local(d, 6, 0, 10);
    let sent = Instant::now();
    t.publish(&[(
        "wk-1".into(),
        serde_json::json!({"ts": sos_at.timestamp_millis(), "lat": lat, "lon": lon, "work": true, "sos": true}).to_string(),
    )])
    .await;
    let mut buf = String::new();
    let alert = tokio::time::timeout(
        Duration::from_secs(5),
        next_event(&mut all, &mut buf, "alert"),
    )
    .await
    .expect("an alert event");
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(alert["kind"], "sos");
    assert_eq!(alert["state"], "open");
    assert_eq!(alert["district"], "D1");
    let positions = buf.matches("event: position").count() + buf.matches("event:position").count();
    assert!(positions <= 5, "positions are coalesced per device: {buf}");
    // The other org's client saw nothing but keep-alives.
    let got = tokio::time::timeout(Duration::from_millis(300), elsewhere.chunk()).await;
    assert!(
        got.is_err()
            || !String::from_utf8_lossy(&got.unwrap().unwrap().unwrap_or_default())
                .contains("alert")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_delay_ingest() {
    let t = ApiTown::start().await;
    // A client that subscribes and never reads a byte.
    let addr = t.svc.http.trim_start_matches("http://").to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(format!("GET /api/v1/stream HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {VIEWER}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut reading = open(&t, "").await;
    let d = town::test_date();
    let mut msgs = Vec::new();
    for (i, dev) in ["sw-1", "wa-1", "wk-1", "wk-2"].iter().enumerate() {
        // One device after the other, as before: each device's 1,501 fixes in a row.
        let mut s = town::script();
        s.walk(
            dev,
            local(d, 7, 0, 0),
            local(d, 7, 25, 0),
            (0.0, i as f64 * 10.0),
            (1500.0, i as f64 * 10.0),
            1,
            true,
        );
        msgs.extend(device_payloads(&s));
    }
    let started = Instant::now();
    t.publish(&msgs).await; // waits until every fix is stored
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "6,000 fixes took {took:?}");
    // The reading client still gets events, and the service still answers.
    let mut buf = String::new();
    tokio::time::timeout(
        Duration::from_secs(5),
        next_event(&mut reading, &mut buf, "position"),
    )
    .await
    .expect("a position event");
    assert_eq!(t.get("/api/v1/positions", VIEWER).await.status, 200);
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_ack_and_resolve_reach_stream_clients_within_a_second() {
    let t = ApiTown::start().await;
    t.standard_day().await;
    let list = t.get("/api/v1/alerts?kind=sos&state=open", VIEWER).await;
    let sos = &list.body["items"][0];
    let id = sos["id"].as_i64().expect("an open SOS");
    let mut d1 = open(&t, "?org=humen&district=D1").await;
    let mut elsewhere = open(&t, "?district=D9").await;

    let mut buf = String::new();
    for (action, state, note) in [
        ("ack", "acknowledged", "calling her"),
        ("resolve", "resolved", "false alarm"),
    ] {
        let sent = Instant::now();
        let a = t
            .post(
                &format!("/api/v1/alerts/{id}/{action}"),
                OPERATOR,
                serde_json::json!({ "note": note }),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        let ev = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let ev = next_event(&mut d1, &mut buf, "alert").await;
                if ev["alert_id"] == id && ev["state"] == state {
                    return ev;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("an {state} alert event"));
        let took = sent.elapsed();
        assert!(took < Duration::from_secs(1), "took {took:?}");
        assert_eq!(ev["kind"], "sos");
        assert_eq!(ev["org"], "humen");
        assert_eq!(ev["district"], "D1");
        assert_eq!(ev["device_id"], sos["device_id"]);
        assert_eq!(ev["actor"], "desk-1");
        assert_eq!(ev["note"], note);
        assert!(ev["at"].as_str().is_some_and(|s| !s.is_empty()), "{ev}");
    }
    // A client watching another district saw neither.
    let got = tokio::time::timeout(Duration::from_millis(300), elsewhere.chunk()).await;
    assert!(
        got.is_err()
            || !String::from_utf8_lossy(&got.unwrap().unwrap().unwrap_or_default())
                .contains("alert")
    );
}
