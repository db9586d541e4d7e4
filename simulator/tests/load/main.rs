//! Load mode against a real Mosquitto (one per test, so tests run in parallel).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use simulator::{
    BrokerOptions, CountOptions, LoadCounters, LoadError, LoadExtras, LoadOptions,
    run_broker_ceiling, run_load, run_load_with, start_count_subscriber,
};
use testkit::{Mosquitto, free_port};
use tokio_util::sync::CancellationToken;

/// Every test finishes well within this, or fails instead of hanging.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

fn options(url: &str, prefix: &str) -> LoadOptions {
    LoadOptions {
        broker: BrokerOptions {
            url: url.to_owned(),
            username: None,
            password: None,
            client_id_prefix: prefix.to_owned(),
        },
        org: "humen".to_owned(),
        devices: 50,
        rate: 2_000,
        duration: Duration::from_secs(2),
        connections: 2,
        qos: 1,
        progress: false,
        seed: 42,
    }
}

/// Polls `done` every few milliseconds until it holds or `within` passes.
async fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_the_paced_count_and_every_message_is_acked_and_delivered() {
    let broker = Mosquitto::start();
    let opts = options(&broker.url(), "t-count");
    let received = Arc::new(AtomicU64::new(0));
    let cancel = CancellationToken::new();
    let count = CountOptions {
        broker: opts.broker.clone(),
        filter: "sweepwatch/v1/humen/+/fix".to_owned(),
        qos: 1,
    };
    let body = async {
        let sub = start_count_subscriber(&count, cancel.clone(), received.clone())
            .await
            .expect("subscriber");
        let report = run_load(&opts, CancellationToken::new())
            .await
            .expect("load");
        // 2,000/s for 2 s is 4,000; the first 10 ms tick and the last partial one can
        // each lose a batch.
        assert!(
            (3_900..=4_000).contains(&report.published),
            "published {}",
            report.published
        );
        assert_eq!(report.acknowledged, report.published);
        assert!(report.elapsed >= Duration::from_millis(1_950), "{report:?}");
        assert!(report.rate > 1_500.0 && report.rate < 2_100.0, "{report:?}");
        let (first, last) = (report.first_ts.unwrap(), report.last_ts.unwrap());
        assert!(
            last - first >= chrono::Duration::milliseconds(1_900),
            "{report:?}"
        );
        let all = eventually(Duration::from_secs(10), || {
            received.load(Ordering::Relaxed) >= report.published
        })
        .await;
        assert!(
            all,
            "received {} of {}",
            received.load(Ordering::Relaxed),
            report.published
        );
        assert_eq!(received.load(Ordering::Relaxed), report.published);
        cancel.cancel();
        sub.join().await.expect("subscriber ends cleanly");
    };
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("test timed out");
}

/// Subscribes to the load's fix topics and keeps every (topic, payload).
async fn recorder(url_port: u16) -> (Arc<Mutex<Vec<(String, Vec<u8>)>>>, AsyncClient) {
    let mut o = MqttOptions::new("t-recorder", "127.0.0.1", url_port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(o, 16);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    client
        .subscribe("sweepwatch/v1/humen/+/fix", QoS::AtLeastOnce)
        .await
        .expect("subscribe request");
    let store = seen.clone();
    tokio::spawn(async move {
        let mut subscribed = Some(subscribed_tx);
        while let Ok(event) = eventloop.poll().await {
            match event {
                Event::Incoming(Packet::SubAck(_)) => {
                    if let Some(tx) = subscribed.take() {
                        let _ = tx.send(());
                    }
                }
                Event::Incoming(Packet::Publish(p)) => {
                    store
                        .lock()
                        .unwrap()
                        .push((p.topic.clone(), p.payload.to_vec()));
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), subscribed_rx)
        .await
        .expect("suback in time")
        .expect("recorder alive");
    (seen, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_follow_the_contract_with_increasing_seq_and_ts() {
    let broker = Mosquitto::start();
    let body = async {
        let (seen, client) = recorder(broker.port).await;
        let mut opts = options(&broker.url(), "t-payload");
        opts.devices = 20;
        opts.rate = 1_000;
        opts.duration = Duration::from_secs(1);
        let report = run_load(&opts, CancellationToken::new())
            .await
            .expect("load");
        assert!(report.published >= 900, "{report:?}");
        let all = eventually(Duration::from_secs(10), || {
            seen.lock().unwrap().len() as u64 >= report.published
        })
        .await;
        assert!(
            all,
            "recorder got {} of {}",
            seen.lock().unwrap().len(),
            report.published
        );
        let _ = client.disconnect().await;

        let messages = seen.lock().unwrap().clone();
        let mut last: HashMap<String, (u64, DateTime<Utc>)> = HashMap::new();
        let mut unique = HashSet::new();
        for (topic, payload) in &messages {
            let parts: Vec<&str> = topic.split('/').collect();
            assert_eq!(parts.len(), 5, "{topic}");
            assert_eq!(
                (parts[0], parts[1], parts[2], parts[4]),
                ("sweepwatch", "v1", "humen", "fix")
            );
            let device = parts[3].to_owned();
            assert!(
                device.starts_with("load-") && device.len() == 11,
                "{device}"
            );
            let v: Value = serde_json::from_slice(payload).expect("payload is JSON");
            let ts_text = v["ts"].as_str().expect("ts is a string");
            assert!(ts_text.ends_with('Z') && ts_text.len() == 24, "{ts_text}");
            let ts = DateTime::parse_from_rfc3339(ts_text)
                .expect("RFC 3339")
                .to_utc();
            let (lat, lon) = (v["lat"].as_f64().unwrap(), v["lon"].as_f64().unwrap());
            assert!(
                (22.7..22.95).contains(&lat) && (113.55..113.8).contains(&lon),
                "{v}"
            );
            for key in ["speed", "heading", "acc", "batt"] {
                assert!(v[key].is_number(), "{key}: {v}");
            }
            assert_eq!(v["work"], true);
            let seq = v["seq"].as_u64().expect("seq");
            let prev = last.insert(device.clone(), (seq, ts));
            match prev {
                Some((pseq, pts)) => {
                    assert_eq!(seq, pseq + 1, "{device} seq");
                    assert!(ts > pts, "{device} ts {pts} then {ts}");
                }
                None => assert_eq!(seq, 1, "{device} starts at seq 1"),
            }
            assert!(unique.insert((device, ts)), "duplicate (device, ts)");
        }
        assert_eq!(last.len(), 20, "every device published");
        assert_eq!(unique.len() as u64, report.published, "zero duplicates");
    };
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_device_limit_publishes_exactly_that_many_per_device() {
    let broker = Mosquitto::start();
    let body = async {
        let (seen, client) = recorder(broker.port).await;
        let mut opts = options(&broker.url(), "t-limit");
        opts.devices = 7; // not a multiple of the 2 connections: lanes of 4 and 3
        opts.rate = 5_000;
        opts.duration = Duration::from_secs(30);
        let counters = Arc::new(LoadCounters::default());
        let extras = LoadExtras {
            fixes_per_device: Some(25),
            counters: Some(counters.clone()),
            track: None,
        };
        let started = Instant::now();
        let report = run_load_with(&opts, &extras, CancellationToken::new())
            .await
            .expect("load");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "stops at the limit"
        );
        assert_eq!(report.published, 7 * 25);
        assert_eq!(report.acknowledged, 7 * 25);
        assert_eq!(counters.published.load(Ordering::Relaxed), 7 * 25);
        assert_eq!(counters.acknowledged.load(Ordering::Relaxed), 7 * 25);
        let all = eventually(Duration::from_secs(10), || {
            seen.lock().unwrap().len() as u64 >= report.published
        })
        .await;
        assert!(all, "recorder got {}", seen.lock().unwrap().len());
        let _ = client.disconnect().await;
        let mut per_device: HashMap<String, u64> = HashMap::new();
        for (topic, _) in seen.lock().unwrap().iter() {
            *per_device.entry(topic.clone()).or_default() += 1;
        }
        assert_eq!(per_device.len(), 7);
        assert!(per_device.values().all(|&n| n == 25), "{per_device:?}");
    };
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn connection_refused_is_an_error_not_a_hang() {
    let port = free_port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let opts = options(&url, "t-refused");
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        run_load(&opts, CancellationToken::new()),
    )
    .await
    .expect("run_load returns in bounded time");
    match result {
        Err(e @ LoadError::Connect { .. }) => {
            assert!(e.to_string().contains(&url), "{e}");
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(12));
}

#[tokio::test]
async fn a_broker_refusing_the_client_is_an_error() {
    // No anonymous access and no password file: every CONNECT is refused.
    let broker = Mosquitto::start_with("allow_anonymous false");
    let mut opts = options(&broker.url(), "t-auth");
    opts.broker.username = Some("nobody".into());
    opts.broker.password = Some("wrong".into());
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        run_load(&opts, CancellationToken::new()),
    )
    .await
    .expect("run_load returns in bounded time");
    match result {
        Err(e @ LoadError::Connect { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&broker.url()) && !text.contains("wrong"),
                "{text}"
            );
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_options_are_rejected_before_connecting() {
    let mut opts = options("mqtt://127.0.0.1:1", "t-bad");
    opts.org = "Humen".to_owned();
    let err = run_load(&opts, CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, LoadError::InvalidOptions(_)), "{err}");
    let mut opts = options("http://127.0.0.1:1", "t-bad");
    opts.devices = 1;
    opts.rate = 1;
    let err = run_load(&opts, CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, LoadError::Url(_)), "{err}");
    let mut opts = options("mqtt://127.0.0.1:1", "t-bad");
    opts.devices = 1;
    opts.rate = 5_000;
    let err = run_load(&opts, CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, LoadError::InvalidOptions(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_run_early_with_a_report() {
    let broker = Mosquitto::start();
    let mut opts = options(&broker.url(), "t-cancel");
    opts.duration = Duration::from_secs(30);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let report = tokio::time::timeout(TEST_TIMEOUT, run_load(&opts, cancel))
        .await
        .expect("test timed out")
        .expect("load");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        report.published > 0 && report.published < 2_000,
        "{report:?}"
    );
    assert_eq!(report.acknowledged, report.published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_dying_mid_run_fails_the_run_promptly() {
    let mut broker = Mosquitto::start();
    let mut opts = options(&broker.url(), "t-dies");
    opts.duration = Duration::from_secs(30);
    let run = tokio::spawn(async move { run_load(&opts, CancellationToken::new()).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.kill();
    let started = Instant::now();
    let result = tokio::time::timeout(TEST_TIMEOUT, run)
        .await
        .expect("test timed out")
        .expect("run task");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(result, Err(LoadError::ConnectionLost { .. })),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_ceiling_counts_every_fix() {
    let broker = Mosquitto::start();
    let mut opts = options(&broker.url(), "t-ceiling");
    opts.duration = Duration::from_secs(1);
    let report = tokio::time::timeout(
        TEST_TIMEOUT,
        run_broker_ceiling(&opts, CancellationToken::new()),
    )
    .await
    .expect("test timed out")
    .expect("ceiling");
    assert!(report.load.published >= 1_900, "{report:?}");
    assert_eq!(report.load.acknowledged, report.load.published);
    assert_eq!(report.received, report.load.published);
    assert!(
        report.received_rate > 0.0 && report.elapsed >= report.load.elapsed,
        "{report:?}"
    );
}
