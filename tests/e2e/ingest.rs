//! Fixes in, rows out: exactly once, with their values; rejects kept.

use std::time::Duration;

use crate::helpers::broker::Broker;
use crate::helpers::db::TestDb;
use crate::helpers::publisher::{Publisher, fix_json, now_ms};
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

async fn wait_count(db: &TestDb, sql: &str, want: i64) {
    eventually(
        Duration::from_secs(60),
        &format!("{sql} = {want}"),
        || async {
            let n = db.count(sql).await;
            assert!(n <= want, "{sql}: {n} rows, more than the {want} published");
            (n == want).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixes_from_many_devices_are_stored_exactly_once_with_their_values() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let _svc = Service::start(&db.url, &broker.url(), &unique("ingest-"), &[]).await;
    let mut publisher = Publisher::connect(broker.port).await;

    let base = now_ms() - 60_000;
    let (devices, per_device) = (8, 250);
    for i in 0..per_device {
        for d in 0..devices {
            let lat = 22.8 + d as f64 * 0.001 + i as f64 * 1e-5;
            let lon = 113.67 + i as f64 * 1e-5;
            let topic = format!("sweepwatch/v1/humen/sw-{d:03}/fix");
            publisher
                .publish(&topic, fix_json(base + i * 100, lat, lon, i as u64))
                .await;
        }
    }
    publisher.flush().await;
    wait_count(&db, "SELECT count(*) FROM fixes", devices * per_device).await;

    let client = db.client().await;
    let per_dev = client
        .query("SELECT d.name, count(*) FROM fixes f JOIN devices d ON d.id = f.device_id GROUP BY d.name", &[])
        .await
        .unwrap();
    assert_eq!(per_dev.len(), devices as usize);
    assert!(per_dev.iter().all(|r| r.get::<_, i64>(1) == per_device));
    // Values intact (sw-003's 17th fix).
    let row = client
        .query_one(
            "SELECT f.ts, f.lat, f.lon, f.speed, f.heading, f.acc, f.work, f.sos, f.batt, f.seq, d.org, d.kind
             FROM fixes f JOIN devices d ON d.id = f.device_id WHERE d.name = 'sw-003' AND f.seq = 17",
            &[],
        )
        .await
        .unwrap();
    let ts: chrono::DateTime<chrono::Utc> = row.get(0);
    assert_eq!(ts.timestamp_millis(), base + 17 * 100);
    assert_eq!(row.get::<_, f64>(1), 22.8 + 3.0 * 0.001 + 17.0 * 1e-5);
    assert_eq!(row.get::<_, f64>(2), 113.67 + 17.0 * 1e-5);
    assert_eq!(row.get::<_, Option<f32>>(3), Some(12.5));
    assert_eq!(row.get::<_, Option<f32>>(4), Some(270.0));
    assert_eq!(row.get::<_, Option<f32>>(5), Some(4.0));
    assert_eq!(row.get::<_, Option<bool>>(6), Some(true));
    assert!(!row.get::<_, bool>(7));
    assert_eq!(row.get::<_, Option<f32>>(8), Some(87.0));
    assert_eq!(row.get::<_, Option<i64>>(9), Some(17));
    assert_eq!(row.get::<_, String>(10), "humen");
    assert_eq!(
        row.get::<_, String>(11),
        "unknown",
        "auto-registered devices have no kind yet"
    );
    // In-order fixes carry the distance and time from the previous one.
    let dt: Option<f32> = client
        .query_one("SELECT f.dt_s FROM fixes f JOIN devices d ON d.id = f.device_id WHERE d.name = 'sw-003' AND f.seq = 18", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(dt, Some(0.1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_owntracks_and_status_are_stored() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let svc = Service::start(&db.url, &broker.url(), &unique("ingest-"), &[]).await;
    let mut publisher = Publisher::connect(broker.port).await;

    // A backlog of 400 buffered fixes (about 50 KiB: under the 64 KiB limit),
    // published newest first (out of order).
    let base = now_ms() - 3_600_000;
    let backlog: Vec<String> = (0..400)
        .rev()
        .map(|i| fix_json(base + i * 1000, 22.81, 113.66 + i as f64 * 1e-5, i as u64))
        .collect();
    publisher
        .publish(
            "sweepwatch/v1/humen/wash-07/fixes",
            format!("[{}]", backlog.join(",")),
        )
        .await;
    // An OwnTracks phone.
    let tst = now_ms() / 1000 - 5;
    publisher
        .publish(
            "owntracks/li/phone",
            format!(r#"{{"_type":"location","lat":22.815,"lon":113.671,"tst":{tst},"vel":4,"cog":90,"acc":8,"batt":55,"tid":"LI"}}"#),
        )
        .await;
    publisher
        .publish_retained(
            "sweepwatch/v1/humen/wash-07/status",
            r#"{"online":true,"fw":"1.2.0"}"#,
        )
        .await;
    publisher.flush().await;

    wait_count(&db, "SELECT count(*) FROM fixes", 401).await;
    let client = db.client().await;
    let (org, name): (String, String) = client
        .query_one(
            "SELECT org, name FROM devices WHERE owntracks_id = 'li/phone'",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!((org.as_str(), name.as_str()), ("owntracks", "li.phone"));
    let ot = client
        .query_one(
            "SELECT f.ts, f.speed, f.heading, f.batt FROM fixes f JOIN devices d ON d.id = f.device_id WHERE d.owntracks_id = 'li/phone'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        ot.get::<_, chrono::DateTime<chrono::Utc>>(0).timestamp(),
        tst
    );
    assert_eq!(ot.get::<_, Option<f32>>(1), Some(4.0));
    assert_eq!(ot.get::<_, Option<f32>>(2), Some(90.0));
    assert_eq!(ot.get::<_, Option<f32>>(3), Some(55.0));
    eventually(
        Duration::from_secs(10),
        "the status to be stored",
        || async {
            let row = db
                .client()
                .await
                .query_one(
                    "SELECT online, status->>'fw' FROM devices WHERE name = 'wash-07'",
                    &[],
                )
                .await
                .ok()?;
            (row.get::<_, Option<bool>>(0) == Some(true)).then(|| row.get::<_, Option<String>>(1))
        },
    )
    .await
    .filter(|fw| fw == "1.2.0")
    .expect("status payload kept");
    assert!(
        svc.metric("sweepwatch_mqtt_messages_total{result=\"accepted\"}")
            .await
            >= 3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_stored_once_and_every_reject_class_is_kept() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let svc = Service::start(&db.url, &broker.url(), &unique("ingest-"), &[]).await;
    let mut publisher = Publisher::connect(broker.port).await;
    let t = now_ms() - 10_000;
    let fix = fix_json(t, 22.81, 113.67, 1);
    publisher
        .publish("sweepwatch/v1/humen/sw-001/fix", fix.clone())
        .await;
    publisher.flush().await;
    wait_count(&db, "SELECT count(*) FROM fixes", 1).await;
    publisher
        .publish("sweepwatch/v1/humen/sw-001/fix", fix.clone())
        .await;

    let old = now_ms() - 200 * 86_400_000;
    let future = now_ms() + 3_600_000;
    let rejects: Vec<(&str, String, &str)> = vec![
        (
            "sweepwatch/v1/humen/sw-001/fix",
            "{\"ts\":".into(),
            "invalid_json",
        ),
        (
            "sweepwatch/v1/humen/sw-001/fix",
            format!(r#"{{"ts":{t},"lat":95,"lon":113}}"#),
            "invalid_value",
        ),
        (
            "sweepwatch/v1/humen/sw-001/fix",
            format!(r#"{{"ts":{t},"lat":1e999,"lon":113}}"#),
            "invalid_json",
        ),
        (
            "sweepwatch/v1/humen/sw-001/fix",
            format!(r#"{{"ts":{t},"lat":22,"lon":113,"device":"sw-999"}}"#),
            "device_mismatch",
        ),
        (
            "sweepwatch/v1/humen/sw-001/fix",
            format!(r#"{{"ts":{future},"lat":22,"lon":113}}"#),
            "future_timestamp",
        ),
        (
            "sweepwatch/v1/humen/sw-001/fix",
            format!(r#"{{"ts":{old},"lat":22,"lon":113}}"#),
            "stale_timestamp",
        ),
        (
            "sweepwatch/v1/humen/sw-001/fix",
            format!(
                r#"{{"ts":{t},"lat":22,"lon":113,"pad":"{}"}}"#,
                "x".repeat(70_000)
            ),
            "oversize",
        ),
        (
            "sweepwatch/v1/humen/sw-001/fixes",
            // Minimal fixes, so the array stays under the 64 KiB payload limit.
            format!(
                "[{}]",
                vec![format!(r#"{{"ts":{t},"lat":1,"lon":2}}"#); 1001].join(",")
            ),
            "backlog_too_large",
        ),
        (
            "sweepwatch/v1/humen/BAD DEVICE/fix",
            fix.clone(),
            "invalid_topic",
        ),
        (
            "owntracks/li/phone",
            r#"{"_type":"waypoint"}"#.into(),
            "unsupported_type",
        ),
    ];
    for (topic, payload, _) in &rejects {
        publisher.publish(topic, payload.clone()).await;
    }
    // A backlog with one bad element: the good ones are stored, the bad one kept.
    let mixed = format!(
        "[{},{}]",
        fix_json(t + 1, 22.81, 113.67, 2),
        r#"{"ts":1,"lat":1,"lon":1}"#
    );
    publisher
        .publish("sweepwatch/v1/humen/sw-001/fixes", mixed)
        .await;
    publisher.flush().await;

    wait_count(
        &db,
        "SELECT count(*) FROM rejected_messages",
        rejects.len() as i64 + 1,
    )
    .await;
    let client = db.client().await;
    for (topic, payload, reason) in &rejects {
        let row = client
            .query_opt(
                "SELECT detail FROM rejected_messages WHERE topic = $1 AND payload = $2 AND reason = $3",
                &[topic, &payload.as_bytes(), reason],
            )
            .await
            .unwrap();
        assert!(
            row.is_some(),
            "no {reason} reject stored for {topic} (payload kept byte for byte)"
        );
    }
    let element: String = client
        .query_one("SELECT detail FROM rejected_messages WHERE reason = 'stale_timestamp' AND detail LIKE 'backlog element 1:%'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(element.contains("older than"), "{element}");
    wait_count(&db, "SELECT count(*) FROM fixes", 2).await;
    eventually(
        Duration::from_secs(10),
        "the duplicate to be counted",
        || async {
            (svc.metric("sweepwatch_mqtt_messages_total{result=\"duplicate\"}")
                .await
                == 1.0)
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        svc.metric("sweepwatch_mqtt_messages_total{result=\"rejected\"}")
            .await,
        rejects.len() as f64
    );
    assert_eq!(svc.metric("sweepwatch_fixes_stored_total").await, 2.0);
    assert_eq!(
        svc.metric("sweepwatch_mqtt_rejects_total{reason=\"oversize\"}")
            .await,
        1.0
    );
    // Still alive and ready after all that.
    assert!(svc.get("/readyz").await.status().is_success());
    assert_eq!(svc.get("/healthz").await.text().await.unwrap(), "ok\n");
}
