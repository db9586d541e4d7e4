//! A backlog the broker held for the service's persistent session while the
//! service was down: drained whole, and drained whole again after a SIGKILL
//! in the middle of draining it ([`sigkill_while_draining`], which the
//! brokers suite runs against RabbitMQ and NATS too).

use std::time::Instant;

use super::{
    Delivery, FIXES, Fleet, Patience, count, prime, report, settle_and_check, wait_for_fixes,
};
use crate::helpers::brokers::{AnyBroker, Kind};
use crate::helpers::burst;
use crate::helpers::db::TestDb;
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

/// Starts the service once (so its session and subscription exist), stops it
/// with SIGTERM, and publishes `devices x per_device` fixes while it is down,
/// through a broker of `kind`.
async fn backlog(
    kind: Kind,
    test: &str,
    devices: usize,
    per_device: usize,
) -> (AnyBroker, TestDb, Service, Fleet) {
    let broker = AnyBroker::start(kind);
    let db = TestDb::create().await;
    let mut svc = Service::start(&db.url, &broker.url(), &unique("backlog-"), &[]).await;
    let mut fleet = Fleet::new(devices);
    prime(broker.port(), &db.url, &mut fleet).await;
    let status = svc.terminate();
    assert!(status.success(), "sweepwatch exited with {status:?}");
    let published = burst::publish(broker.port(), fleet.jobs(0..per_device)).await;
    report(test, &format!("published while stopped: {published}"));
    (broker, db, svc, fleet)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_200k_published_while_the_service_was_stopped_is_stored_exactly_once() {
    let (devices, per_device) = (1_000, 200);
    let want = (devices * per_device) as i64;
    let (_broker, db, mut svc, fleet) =
        backlog(Kind::Mosquitto, "backlog", devices, per_device).await;

    let started = Instant::now();
    svc.restart().await;
    wait_for_fixes(&db.url, &svc, want, Patience::for_fixes(want)).await;
    report(
        "backlog",
        &format!(
            "{want} fixes drained {:.1} s after the start",
            started.elapsed().as_secs_f64()
        ),
    );
    settle_and_check(&db.url, &fleet, per_device, Delivery::Once, 0).await;
    // The backlog went past the pipeline's bound (32,768 held): reading paused
    // and resumed, acks flowing meanwhile, and it still drained whole.
    let pauses = svc.metric("sweepwatch_mqtt_read_pauses_total").await;
    assert!(
        pauses >= 1.0,
        "the drain never filled the pipeline ({pauses} pauses)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_draining_a_backlog_loses_nothing_and_stores_nothing_twice() {
    sigkill_while_draining(Kind::Mosquitto).await
}

/// The service SIGKILLed while it drains a backlog held by a broker of
/// `kind`: 1,000 devices for Mosquitto, 300 for RabbitMQ and NATS.
pub async fn sigkill_while_draining(kind: Kind) {
    let devices = match kind {
        Kind::Mosquitto => 1_000,
        Kind::RabbitMq | Kind::Nats => 300,
    };
    let per_device = 100;
    let want = (devices * per_device) as i64;
    let test = format!("backlog_kill {kind:?}");
    let (_broker, db, mut svc, fleet) = backlog(kind, &test, devices, per_device).await;

    let started = Instant::now();
    svc.restart().await;
    // Kill it once part of the backlog is committed: what it committed but
    // had not acknowledged yet comes again, and must be stored once.
    let patience = Patience::for_fixes(want);
    eventually(
        patience.deadline,
        "a quarter of the backlog stored",
        || async { (count(&db.url, FIXES).await? >= want / 4).then_some(()) },
    )
    .await;
    svc.kill();
    let at_kill = count(&db.url, FIXES).await.unwrap();
    report(&test, &format!("SIGKILL with {at_kill} of {want} stored"));
    assert!(
        at_kill < want,
        "the backlog was drained before the kill; make it larger"
    );
    let restarted = Instant::now();
    svc.restart().await;
    wait_for_fixes(&db.url, &svc, want, patience).await;
    report(
        &test,
        &format!(
            "{want} fixes stored {:.1} s after the first start, {:.1} s after the restart; \
             duplicates seen after the restart: {}",
            started.elapsed().as_secs_f64(),
            restarted.elapsed().as_secs_f64(),
            svc.metric("sweepwatch_fixes_duplicate_total").await
        ),
    );
    settle_and_check(&db.url, &fleet, per_device, Delivery::Redelivered, 0).await;
}
