//! Scaling out (DESIGN.md): two instances with different `SWEEPWATCH_ORGS`, one
//! broker, one database. Each processes only its orgs, nothing is processed
//! twice, and stopping one loses nothing of the other's.

use std::time::Duration;

use crate::helpers::broker::Broker;
use crate::helpers::db::TestDb;
use crate::helpers::publisher::{Publisher, fix_json, now_ms};
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

async fn publish(port: u16, org: &str, devices: u32, per_device: i64, base: i64) -> i64 {
    let mut p = Publisher::connect(port).await;
    for i in 0..per_device {
        for d in 0..devices {
            p.publish(
                &format!("sweepwatch/v1/{org}/dev-{d}/fix"),
                fix_json(base + i * 1000, 22.8, 113.67, i as u64),
            )
            .await;
        }
    }
    p.flush().await;
    i64::from(devices) * per_device
}

async fn org_count(db: &TestDb, org: &str) -> i64 {
    db.count(&format!(
        "SELECT count(*) FROM fixes f JOIN devices d ON d.id = f.device_id WHERE d.org = '{org}'"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_the_orgs_and_survive_each_other() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let north = Service::start(
        &db.url,
        &broker.url(),
        &unique("north-"),
        &[("SWEEPWATCH_ORGS", "north")],
    )
    .await;
    let mut south = Service::start(
        &db.url,
        &broker.url(),
        &unique("south-"),
        &[("SWEEPWATCH_ORGS", "south")],
    )
    .await;

    let base = now_ms() - 3_600_000;
    let n1 = publish(broker.port, "north", 10, 100, base).await;
    let s1 = publish(broker.port, "south", 10, 100, base).await;
    eventually(Duration::from_secs(60), "both orgs stored", || async {
        (org_count(&db, "north").await == n1 && org_count(&db, "south").await == s1).then_some(())
    })
    .await;
    // Each instance stored only its own org's fixes, so nothing was processed twice.
    assert_eq!(
        north.metric("sweepwatch_fixes_stored_total").await,
        n1 as f64
    );
    assert_eq!(
        south.metric("sweepwatch_fixes_stored_total").await,
        s1 as f64
    );
    assert_eq!(north.metric("sweepwatch_fixes_duplicate_total").await, 0.0);
    assert_eq!(south.metric("sweepwatch_fixes_duplicate_total").await, 0.0);

    // An SOS in each org: each instance's engine opens exactly its own.
    let mut p = Publisher::connect(broker.port).await;
    for org in ["north", "south"] {
        let sos = format!(
            r#"{{"ts":{},"lat":22.8,"lon":113.67,"sos":true}}"#,
            now_ms() - 1000
        );
        p.publish(&format!("sweepwatch/v1/{org}/dev-0/fix"), sos)
            .await;
    }
    p.flush().await;
    eventually(Duration::from_secs(30), "one SOS per org", || async {
        (db.count("SELECT count(*) FROM alerts WHERE kind = 'sos'")
            .await
            == 2)
            .then_some(())
    })
    .await;
    assert_eq!(
        north
            .metric("sweepwatch_alerts_opened_total{kind=\"sos\"}")
            .await,
        1.0
    );
    assert_eq!(
        south
            .metric("sweepwatch_alerts_opened_total{kind=\"sos\"}")
            .await,
        1.0
    );
    let per_org = db
        .count("SELECT count(DISTINCT org) FROM alerts WHERE kind = 'sos'")
        .await;
    assert_eq!(per_org, 2);

    // Stop south without warning while both orgs keep publishing: north is not
    // held up, and south's fixes wait in the broker for its restart.
    south.kill();
    let base2 = now_ms() - 1_800_000;
    let n2 = publish(broker.port, "north", 10, 50, base2).await;
    let s2 = publish(broker.port, "south", 10, 50, base2).await;
    eventually(
        Duration::from_secs(60),
        "north stored while south is down",
        || async { (org_count(&db, "north").await == n1 + 1 + n2).then_some(()) },
    )
    .await;
    assert_eq!(
        org_count(&db, "south").await,
        s1 + 1,
        "nobody processes south while it is down"
    );
    south.restart().await;
    eventually(
        Duration::from_secs(60),
        "south catches up after its restart",
        || async { (org_count(&db, "south").await == s1 + 1 + s2).then_some(()) },
    )
    .await;
    assert_eq!(org_count(&db, "north").await, n1 + 1 + n2);
}
