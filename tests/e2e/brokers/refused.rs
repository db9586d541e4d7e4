//! NATS grants a session at most 65,535 unacknowledged QoS 1 messages over
//! all its subscriptions, `max_ack_pending` (20,000 in deploy/nats) each: a
//! fourth filter is refused (SUBACK 0x80). The service must not look healthy
//! while it ingests only part of what it should.

use std::time::Duration;

use super::publish_one;
use crate::helpers::brokers::{AnyBroker, Kind};
use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::helpers::publisher::{fix_json, now_ms};
use crate::helpers::service::Service;
use crate::helpers::unique;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_refuses_a_fourth_filter_and_the_service_is_not_ready() {
    let broker = AnyBroker::start(Kind::Nats);
    let db = TestDb::create().await;
    // Four orgs: four filters (no OwnTracks filter with orgs set), 4 x 20,000 > 65,535.
    let svc = Service::start_logged(
        &db.url,
        &broker.url(),
        &unique("refused-"),
        &[("SWEEPWATCH_ORGS", "north,south,east,west")],
    )
    .await;
    let refused = eventually(Duration::from_secs(30), "the broker's SUBACK", || async {
        let n = reqwest::get(format!("{}/metrics", svc.http))
            .await
            .ok()?
            .text()
            .await
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("sweepwatch_mqtt_subscriptions_refused "))?
            .trim()
            .parse::<f64>()
            .ok()?;
        (n > 0.0).then_some(n)
    })
    .await;
    assert_eq!(refused, 1.0, "filters refused");
    let ready = svc.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let report: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(report["broker"], "subscription refused", "{report}");
    assert!(
        svc.log().contains("sweepwatch/v1/west/+/+"),
        "the log names the refused filter: {}",
        svc.log()
    );
    // The granted filters still ingest.
    let fix = fix_json(now_ms() - 1000, 22.81, 113.67, 1);
    let out = publish_one(broker.port(), "sweepwatch/v1/north/sw-1/fix", &fix, false).await;
    assert!(out.status.success(), "{out:?}");
    eventually(Duration::from_secs(30), "the fix stored", || async {
        (db.count("SELECT count(*) FROM fixes").await == 1).then_some(())
    })
    .await;
}
