//! The broker killed with SIGKILL while the service drains a backlog from its
//! persistent session, and started again on the same port and data. Run
//! against Mosquitto here and against RabbitMQ and NATS by the brokers suite
//! (`brokers::{rabbitmq,nats}`), with [`run`].
//!
//! Mosquitto keeps its state in memory and writes it to its persistence file
//! only in snapshots (every `autosave_interval`, on SIGUSR1, on a clean exit).
//! A SIGKILL loses whatever changed since the last snapshot: messages it
//! acknowledged to a publisher after it are gone, and that is the broker's
//! property, not ours. So the test decides when the snapshot is taken
//! ([`AnyBroker::persist`]; RabbitMQ and NATS write each QoS 1 message before
//! they acknowledge it, so nothing is done for them):
//!
//! 1. the service subscribes once, then stops; a backlog is published and
//!    acknowledged by the broker, with a retained status among it;
//! 2. Mosquitto: SIGUSR1, the broker writes the backlog to its persistence
//!    file, and the test waits for the file (autosave is off in this broker,
//!    so no other snapshot is taken behind the test's back);
//! 3. the service starts and drains the backlog; in the middle, SIGKILL of the
//!    broker, and a restart on the same port with the same directory:
//!    Mosquitto restores the snapshot, so it holds the whole backlog again for
//!    the service's session, including what the service already committed
//!    and acknowledged (redelivered: stored once);
//! 4. more fixes published after the restart (nothing kills the broker after
//!    them).
//!
//! Every fix of the backlog and of the second stream must be stored exactly
//! once; with Mosquitto the restored session must have redelivered some
//! already stored fixes (otherwise the kill tested nothing). A new client
//! then looks for the retained status: the test asserts what each broker
//! measured here does with it.

use std::time::Instant;

use super::{
    Delivery, FIXES, Fleet, ORG, Patience, count, prime, report, settle_and_check, wait_for_fixes,
};
use crate::brokers::retained;
use crate::helpers::brokers::{AnyBroker, Kind};
use crate::helpers::burst::{self, Job};
use crate::helpers::db::TestDb;
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_sigkill_mid_drain_and_restart_loses_nothing_and_stores_nothing_twice() {
    run(Kind::Mosquitto).await
}

/// The scenario against a broker of `kind`: 1,000 devices for Mosquitto, 300
/// for RabbitMQ and NATS (slower to boot and to drain, each test a node of
/// its own on 2 cores).
pub async fn run(kind: Kind) {
    let (devices, backlog, after) = match kind {
        Kind::Mosquitto => (1_000, 100, 50),
        Kind::RabbitMq | Kind::Nats => (300, 100, 30),
    };
    let test = format!("broker_kill {kind:?}");
    let per_device = backlog + after;
    let want_backlog = (devices * backlog) as i64;
    let want = (devices * per_device) as i64;
    // Mosquitto: snapshots only when the test asks for them (autosave off).
    let mut broker = AnyBroker::start(kind);
    let port = broker.port();
    let db = TestDb::create().await;
    let mut svc = Service::start(&db.url, &broker.url(), &unique("brokerkill-"), &[]).await;
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
    report(&test, &format!("backlog published: {published}"));
    let saving = Instant::now();
    broker.persist();
    if let AnyBroker::Mosquitto(b) = &broker {
        report(
            &test,
            &format!(
                "snapshot written in {:.1} s ({} bytes)",
                saving.elapsed().as_secs_f64(),
                std::fs::metadata(b.persistence_file()).unwrap().len()
            ),
        );
    }

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
        &test,
        &format!("broker SIGKILL with {at_kill} of {want_backlog} stored"),
    );
    assert!(
        at_kill < want_backlog,
        "the backlog was drained before the kill; make it larger"
    );
    let restarting = Instant::now();
    broker.restart();
    report(
        &test,
        &format!(
            "broker listening again {:.1} s after the kill",
            restarting.elapsed().as_secs_f64()
        ),
    );

    let published = burst::publish(port, fleet.jobs(backlog..per_device)).await;
    report(&test, &format!("published after the restart: {published}"));
    wait_for_fixes(&db.url, &svc, want, patience).await;
    let duplicates = svc.metric("sweepwatch_fixes_duplicate_total").await;
    report(
        &test,
        &format!(
            "{want} fixes stored {:.1} s after the service started; {duplicates} redelivered duplicates",
            started.elapsed().as_secs_f64()
        ),
    );
    settle_and_check(&db.url, &fleet, per_device, Delivery::Redelivered, 0).await;
    if kind == Kind::Mosquitto {
        // The snapshot was taken before the drain: the restored session holds
        // fixes the service had already committed and acknowledged.
        assert!(
            duplicates >= 1.0,
            "the restored broker redelivered nothing already stored: the kill did not test redelivery"
        );
    }

    let kept = retained(port, &status_topic).await;
    report(
        &test,
        &format!("retained status after the SIGKILL: {kept:?}"),
    );
    match kind {
        Kind::Mosquitto | Kind::Nats => assert_eq!(kept.as_deref(), Some(status_payload)),
        // RabbitMQ 3.10 keeps retained messages in a DETS file per node,
        // synced every 2 s: this one (published seconds before the kill) was
        // kept in two runs and lost in one. Not asserted: a coin toss. It does
        // not matter to the service there: RabbitMQ hands retained messages
        // only to exact-topic subscriptions, never to the service's wildcards
        // (see `brokers::ingest`).
        Kind::RabbitMq => {}
    }
}
