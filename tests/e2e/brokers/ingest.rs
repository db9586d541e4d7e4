//! Fixes, bad messages and a retained status through each broker; and a
//! device id with a dot, which the contract allows and brokers treat
//! differently.

use std::time::Duration;

use super::publish_one;
use crate::chaos::{Delivery, FIXES, Fleet, ORG, Patience, count, prime, report};
use crate::chaos::{settle_and_check, wait_for_fixes};
use crate::helpers::brokers::{AnyBroker, Kind};
use crate::helpers::burst;
use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::helpers::publisher::{fix_json, now_ms};
use crate::helpers::service::Service;
use crate::helpers::unique;

pub async fn run(kind: Kind) {
    let (devices, per_device) = (20, 50);
    let broker = AnyBroker::start(kind);
    let port = broker.port();
    let db = TestDb::create().await;
    let mut fleet = Fleet::new(devices);

    // Retained before the service's session exists: the broker hands it over
    // when the service subscribes.
    let status_topic = format!("sweepwatch/v1/{ORG}/{}/status", fleet.device(0));
    let out = publish_one(port, &status_topic, r#"{"online":true,"fw":"2.1.0"}"#, true).await;
    assert!(out.status.success(), "retained status refused: {out:?}");

    let svc = Service::start(&db.url, &broker.url(), &unique("brokers-"), &[]).await;
    prime(port, &db.url, &mut fleet).await;
    let published = burst::publish(port, fleet.jobs(0..per_device)).await;
    report(
        "brokers::ingest",
        &format!("{kind:?}: published {published}"),
    );
    let want = fleet.fixes(per_device);
    wait_for_fixes(&db.url, &svc, want, Patience::for_fixes(want)).await;
    settle_and_check(&db.url, &fleet, per_device, Delivery::Once, 0).await;

    // RabbitMQ 3.10 hands retained messages only to a subscription whose
    // filter is exactly their topic; the service's are wildcards.
    let before = device_status(&db, &fleet.device(0)).await;
    let expected = match kind {
        Kind::Mosquitto | Kind::Nats => Some("2.1.0".to_owned()),
        Kind::RabbitMq => None,
    };
    assert_eq!(
        before.1, expected,
        "the status retained before the service subscribed ({before:?})"
    );
    // Published while the service's session exists: delivered by all.
    let out = publish_one(port, &status_topic, r#"{"online":true,"fw":"2.2.0"}"#, true).await;
    assert!(out.status.success(), "retained status refused: {out:?}");
    eventually(
        Duration::from_secs(30),
        "the live status to be stored",
        || async {
            let (online, fw) = device_status(&db, &fleet.device(0)).await;
            (online == Some(true) && fw.as_deref() == Some("2.2.0")).then_some(())
        },
    )
    .await;

    dotted_device(kind, port, &db, want).await;
}

/// A device's `online` and `status->>'fw'`.
async fn device_status(db: &TestDb, device: &str) -> (Option<bool>, Option<String>) {
    let row = db
        .client()
        .await
        .query_one(
            "SELECT online, status->>'fw' FROM devices WHERE name = $1",
            &[&device],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// `dev.7` is a valid device id (`[A-Za-z0-9_.-]{1,64}`). Mosquitto passes
/// the topic through. RabbitMQ maps MQTT's `/` to AMQP's `.` and back, so the
/// dot becomes a level separator (`.../dev/7/fix`, 6 levels): the service's
/// `sweepwatch/v1/+/+/+` does not match it, and the broker acknowledges the
/// fix to the device and drops it (a `#` subscriber gets `.../dev/7/fix`).
/// NATS refuses the publish and closes the device's connection (its subjects
/// use `.` as the separator).
async fn dotted_device(kind: Kind, port: u16, db: &TestDb, fixes_before: i64) {
    let topic = format!("sweepwatch/v1/{ORG}/dev.7/fix");
    let fix = fix_json(now_ms() - 1000, 22.81, 113.67, 7);
    let out = publish_one(port, &topic, &fix, false).await;
    report(
        "brokers::ingest",
        &format!(
            "{kind:?}: dotted device id: mosquitto_pub {}, {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    );
    // A marker after it: once it is stored, the dotted one has been handled.
    let marker = fix_json(now_ms(), 22.81, 113.67, 1);
    let out_marker = publish_one(
        port,
        &format!("sweepwatch/v1/{ORG}/marker/fix"),
        &marker,
        false,
    )
    .await;
    assert!(out_marker.status.success(), "{out_marker:?}");
    let dotted = match kind {
        Kind::Mosquitto => 1,
        Kind::RabbitMq | Kind::Nats => 0,
    };
    let want = fixes_before + 1 + dotted;
    eventually(Duration::from_secs(30), "the marker fix stored", || async {
        (count(&db.url, FIXES).await? >= want).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = db.client().await;
    let stored: i64 = client
        .query_one(
            "SELECT count(*) FROM fixes f JOIN devices d ON d.id = f.device_id WHERE d.name = 'dev.7'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let rejected: Vec<(String, String)> = client
        .query(
            "SELECT topic, reason FROM rejected_messages WHERE topic LIKE '%dev%7%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    match kind {
        Kind::Mosquitto => {
            assert!(out.status.success(), "{out:?}");
            assert_eq!((stored, rejected), (1, vec![]));
        }
        Kind::RabbitMq => {
            assert!(out.status.success(), "{out:?}");
            assert_eq!((stored, rejected), (0, vec![]));
        }
        Kind::Nats => {
            assert!(
                !out.status.success(),
                "NATS took a topic with a dot: {out:?}"
            );
            assert_eq!((stored, rejected), (0, vec![]));
        }
    }
}
