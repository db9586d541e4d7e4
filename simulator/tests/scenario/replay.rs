//! A short replay against a real Mosquitto: every planned message arrives, of every kind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use simulator::scenario::{Behaviours, Connections, Counts, MessageKind, plan, run_scenario};
use tokio_util::sync::CancellationToken;

use crate::bundled::humen;
use crate::plan::run;
use testkit::Mosquitto;

type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Subscribes to everything the simulator publishes and records it.
async fn recorder(port: u16, id: &str) -> (Seen, tokio::task::JoinHandle<()>) {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_max_packet_size(128 * 1024, 128 * 1024);
    let (client, mut ev) = AsyncClient::new(o, 100);
    client
        .subscribe("sweepwatch/v1/humen/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    client
        .subscribe("owntracks/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let seen: Seen = Arc::default();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    let mut subacks = 0;
    let rec = seen.clone();
    let task = tokio::spawn(async move {
        let _keep = client;
        while let Ok(e) = ev.poll().await {
            match e {
                Event::Incoming(Packet::SubAck(_)) => {
                    subacks += 1;
                    if subacks == 2 {
                        tx.take().map(|t| t.send(()));
                    }
                }
                Event::Incoming(Packet::Publish(p)) => {
                    rec.lock()
                        .unwrap()
                        .push((p.topic.clone(), p.payload.to_vec()));
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .unwrap()
        .unwrap();
    (seen, task)
}

async fn replay_delivers_everything(connections: Connections) {
    let broker = Mosquitto::start();
    let (seen, task) = recorder(broker.port, &format!("rec-{connections:?}")).await;
    let file = humen();
    let mut b = Behaviours::default();
    b.duplicates.probability = 0.05;
    b.late_start.delay = Duration::from_secs(4 * 60);
    let mut opts = run(&broker.url(), 10, 2, b);
    opts.owntracks = true;
    opts.connections = connections;
    let planned = plan(&file, &opts).unwrap().messages;
    let expect = Counts::of(&planned);
    for kind in [
        expect.fixes,
        expect.backlogs,
        expect.duplicates,
        expect.malformed,
        expect.sos,
        expect.status,
        expect.owntracks,
    ] {
        assert!(kind > 0, "the plan lacks a kind: {expect:?}");
    }

    let t0 = Instant::now();
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        run_scenario(&file, &opts, CancellationToken::new()),
    )
    .await
    .expect("run finishes")
    .expect("run succeeds");
    // 10 simulated minutes at 600×: about a second
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert_eq!(report.counts, expect);
    assert_eq!(
        (report.published, report.acknowledged),
        (planned.len() as u64, planned.len() as u64)
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < planned.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), planned.len());
    let mut want: HashMap<(String, Vec<u8>), i32> = HashMap::new();
    for m in &planned {
        *want
            .entry((m.topic.clone(), m.payload.clone()))
            .or_default() += 1;
    }
    for m in got {
        *want.entry(m).or_default() -= 1;
    }
    assert!(
        want.values().all(|n| *n == 0),
        "received differs from the plan"
    );
    // work flags on fixes, backlog arrays, an SOS
    let fix_work = planned
        .iter()
        .filter(|m| m.kind == MessageKind::Fix)
        .any(|m| String::from_utf8_lossy(&m.payload).contains("\"work\":true"));
    let sos = planned.iter().any(|m| {
        m.kind == MessageKind::Sos && String::from_utf8_lossy(&m.payload).contains("\"sos\":true")
    });
    assert!(fix_work && sos);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_replay_with_a_connection_per_device_delivers_the_plan() {
    replay_delivers_everything(Connections::PerDevice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_replay_over_shared_connections_delivers_the_plan() {
    replay_delivers_everything(Connections::Shared(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_subscriber_sees_the_retained_online_status_and_cancel_stops_cleanly() {
    let broker = Mosquitto::start();
    let file = humen();
    let mut opts = run(&broker.url(), 60, 1, Behaviours::none());
    opts.clock = simulator::scenario::Clock::Replay {
        start: crate::plan::morning(),
        speed: 1.0,
    };
    opts.devices = simulator::scenario::DeviceSelection::Ids(vec!["sw-001".into()]);
    let cancel = CancellationToken::new();
    let running = tokio::spawn({
        let (file, opts, cancel) = (file.clone(), opts.clone(), cancel.clone());
        async move { run_scenario(&file, &opts, cancel).await }
    });
    let (seen, task) = recorder(broker.port, "rec-will").await;
    // the retained online status is there for a late subscriber
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = |seen: &Seen, want: &[u8]| {
        seen.lock()
            .unwrap()
            .iter()
            .any(|(t, p)| t == "sweepwatch/v1/humen/sw-001/status" && p == want)
    };
    while !status(&seen, br#"{"online":true}"#) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(status(&seen, br#"{"online":true}"#));
    // a clean stop: cancelled, so no offline status from the plan; only the will says
    // offline if the connection dies, and a clean DISCONNECT does not fire it
    cancel.cancel();
    let report = running.await.unwrap().unwrap();
    assert!(report.cancelled);
    task.abort();
}
