//! The broker killed with SIGKILL while the service drains a backlog from its
//! persistent session, started again on the same port and data, and more
//! fixes published after it: every fix stored exactly once.
//!
//! Mosquitto keeps its state in memory and writes it in snapshots, so the
//! test takes one after the backlog is published ([`AnyBroker::persist`]; see
//! `chaos::broker`); RabbitMQ and NATS write each QoS 1 message before they
//! acknowledge it, so nothing is done for them. A retained status published
//! with the backlog is looked for afterwards by a new client: the test
//! asserts what each broker measured here does with it.

use std::time::Instant;

use super::retained;
use crate::chaos::{Delivery, FIXES, Fleet, ORG, Patience, count, prime, report};
use crate::chaos::{settle_and_check, wait_for_fixes};
use crate::helpers::brokers::{AnyBroker, Kind};
use crate::helpers::burst::{self, Job};
use crate::helpers::db::TestDb;
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

pub async fn run(kind: Kind) {
    let (devices, backlog, after) = (300, 100, 30);
    let per_device = backlog + after;
    let want_backlog = (devices * backlog) as i64;
    let want = (devices * per_device) as i64;
    let mut broker = AnyBroker::start(kind);
    let port = broker.port();
    let db = TestDb::create().await;
    let mut svc = Service::start(&db.url, &broker.url(), &unique("brokers-bk-"), &[]).await;
    let mut fleet = Fleet::new(devices);
    prime(port, &db.url, &mut fleet).await;

    let status = svc.terminate();
    assert!(status.success(), "sweepwatch exited with {status:?}");
    let status_topic = format!("sweepwatch/v1/{ORG}/{}/status", fleet.device(1));
    let status_payload = r#"{"online":false}"#;
    let mut jobs = fleet.jobs(0..backlog);
    let mut status_job = Job::new(status_topic.clone(), vec![status_payload.to_owned()]);
    status_job.retain = true;
    jobs.insert(0, status_job);
    let published = burst::publish(port, jobs).await;
    report(
        "brokers::broker_kill",
        &format!("{kind:?}: backlog published: {published}"),
    );
    broker.persist();

    let started = Instant::now();
    svc.restart().await;
    let patience = Patience::for_fixes(want);
    eventually(
        patience.deadline,
        "a quarter of the backlog stored",
        || async { (count(&db.url, FIXES).await? >= want_backlog / 4).then_some(()) },
    )
    .await;
    broker.kill();
    let at_kill = count(&db.url, FIXES).await.unwrap();
    report(
        "brokers::broker_kill",
        &format!("{kind:?}: broker SIGKILL with {at_kill} of {want_backlog} stored"),
    );
    assert!(
        at_kill < want_backlog,
        "the backlog was drained before the kill; make it larger"
    );
    let restarting = Instant::now();
    broker.restart();
    report(
        "brokers::broker_kill",
        &format!(
            "{kind:?}: broker listening again {:.1} s after the kill",
            restarting.elapsed().as_secs_f64()
        ),
    );
    let published = burst::publish(port, fleet.jobs(backlog..per_device)).await;
    report(
        "brokers::broker_kill",
        &format!("{kind:?}: published after the restart: {published}"),
    );
    wait_for_fixes(&db.url, &svc, want, patience).await;
    report(
        "brokers::broker_kill",
        &format!(
            "{kind:?}: {want} fixes stored {:.1} s after the service started; {} redelivered duplicates",
            started.elapsed().as_secs_f64(),
            svc.metric("sweepwatch_fixes_duplicate_total").await
        ),
    );
    settle_and_check(&db.url, &fleet, per_device, Delivery::Redelivered, 0).await;

    let kept = retained(port, &status_topic).await;
    report(
        "brokers::broker_kill",
        &format!("{kind:?}: retained status after the SIGKILL: {kept:?}"),
    );
    match kind {
        Kind::Mosquitto | Kind::Nats => assert_eq!(kept.as_deref(), Some(status_payload)),
        // RabbitMQ 3.10 keeps retained messages in a DETS file per node,
        // synced every 2 s: this one (published seconds before the kill) was
        // kept in two runs and lost in one. Not asserted: a coin toss. It does
        // not matter to the service there: RabbitMQ hands retained messages
        // only to exact-topic subscriptions, never to the service's wildcards
        // (see `ingest`).
        Kind::RabbitMq => {}
    }
}
