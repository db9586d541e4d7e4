//! NATS redelivers a QoS 1 message that is not acknowledged within its
//! `ack_wait` (30 s) also on a live connection. The service acknowledges only
//! after commit, so a database outage longer than that makes NATS send the
//! held messages again while the service still holds the first copies: each
//! fix must still be stored once.

use std::time::{Duration, Instant};

use crate::chaos::{Delivery, FIXES, Fleet, Patience, count, prime, report};
use crate::chaos::{settle_and_check, wait_for_fixes};
use crate::helpers::brokers::{AnyBroker, Kind};
use crate::helpers::burst;
use crate::helpers::db::{SERVER, TestDb};
use crate::helpers::proxy::Proxy;
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

/// Longer than NATS's default `ack_wait` (30 s), which deploy/nats keeps.
const OUTAGE: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_redelivers_during_a_database_outage_longer_than_ack_wait_and_each_fix_is_stored_once()
{
    let (devices, per_device) = (200, 50);
    let broker = AnyBroker::start(Kind::Nats);
    let db = TestDb::create().await;
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let via_proxy = db.url.replace(
        SERVER,
        &format!("postgres://postgres@127.0.0.1:{}", proxy.port),
    );
    // A single instance that keeps its broker connection through the outage (no
    // ingest lease: with it, losing the database is stepping down and
    // disconnecting, which NATS handles as a crash, see `kill`).
    let config = std::env::temp_dir().join(unique("outage-cfg-"));
    std::fs::write(&config, "[ha]\nenabled = false\n").unwrap();
    let svc = Service::start(
        &via_proxy,
        &broker.url(),
        &unique("outage-"),
        &[("SWEEPWATCH_CONFIG", config.to_str().unwrap())],
    )
    .await;
    let mut fleet = Fleet::new(devices);
    prime(broker.port(), &db.url, &mut fleet).await;

    proxy.cut();
    eventually(
        Duration::from_secs(15),
        "/readyz to report the outage",
        || async { (svc.get("/readyz").await.status().as_u16() == 503).then_some(()) },
    )
    .await;
    let cut = Instant::now();
    let published = burst::publish(broker.port(), fleet.jobs(0..per_device)).await;
    report(
        "brokers::outage",
        &format!("Nats: published during the outage: {published}"),
    );
    let held = svc.metric("sweepwatch_pipeline_queue_depth").await;
    tokio::time::sleep(OUTAGE.saturating_sub(cut.elapsed())).await;
    let held_later = svc.metric("sweepwatch_pipeline_queue_depth").await;
    report(
        "brokers::outage",
        &format!(
            "Nats: messages held: {held} after the burst, {held_later} {} s into the outage",
            OUTAGE.as_secs()
        ),
    );
    // NATS sent every held message again: the service holds both copies.
    assert!(
        held_later > held,
        "nothing was redelivered during the outage ({held} held, then {held_later}): \
         the test tested nothing"
    );
    assert_eq!(
        count(&db.url, FIXES).await,
        Some(1),
        "stored while cut off?"
    );
    proxy.restore();

    let want = fleet.fixes(per_device);
    wait_for_fixes(&db.url, &svc, want, Patience::for_fixes(want)).await;
    report(
        "brokers::outage",
        &format!(
            "Nats: all {want} stored {:.1} s after the cut; duplicates: {}",
            cut.elapsed().as_secs_f64(),
            svc.metric("sweepwatch_fixes_duplicate_total").await
        ),
    );
    settle_and_check(&db.url, &fleet, per_device, Delivery::Redelivered, 0).await;
    let _ = std::fs::remove_file(&config);
}
