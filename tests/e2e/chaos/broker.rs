//! The broker killed with SIGKILL while the service drains a backlog, and
//! started again on the same port and directory.
//!
//! Mosquitto keeps its state in memory and writes it to its persistence file
//! only in snapshots (every `autosave_interval`, on SIGUSR1, on a clean exit).
//! A SIGKILL loses whatever changed since the last snapshot: messages it
//! acknowledged to a publisher after it are gone, and that is the broker's
//! property, not ours. So the test decides when the snapshot is taken:
//!
//! 1. the service subscribes once, then stops; a backlog is published and
//!    acknowledged by the broker;
//! 2. SIGUSR1: the broker writes the backlog to its persistence file, and the
//!    test waits for the file (autosave is off in this broker, so no other
//!    snapshot is taken behind the test's back);
//! 3. the service starts and drains the backlog; in the middle, SIGKILL of the
//!    broker, and a restart on the same port with the same directory: it
//!    restores the snapshot, so it holds the whole backlog again for the
//!    service's session, including what the service already committed and
//!    acknowledged (redelivered: stored once);
//! 4. more fixes published after the restart (nothing kills the broker after
//!    them).
//!
//! Every fix of the backlog and of the second stream must be stored exactly
//! once, and the restored session must have redelivered some already stored
//! fixes (otherwise the kill tested nothing).

use std::time::Instant;

use super::{
    Delivery, FIXES, Fleet, Patience, count, prime, report, settle_and_check, wait_for_fixes,
};
use crate::helpers::broker::Broker;
use crate::helpers::burst;
use crate::helpers::db::TestDb;
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_sigkill_mid_drain_and_restart_loses_nothing_and_stores_nothing_twice() {
    let (devices, backlog, after) = (1_000, 100, 50);
    let per_device = backlog + after;
    let want_backlog = (devices * backlog) as i64;
    let want = (devices * per_device) as i64;
    // Snapshots only when the test asks for them (see the module comment).
    let mut broker = Broker::start_with("autosave_interval 0");
    let db = TestDb::create().await;
    let mut svc = Service::start(&db.url, &broker.url(), &unique("brokerkill-"), &[]).await;
    let mut fleet = Fleet::new(devices);
    prime(broker.port, &db.url, &mut fleet).await;

    let status = svc.terminate();
    assert!(status.success(), "sweepwatch exited with {status:?}");
    let published = burst::publish(broker.port, fleet.jobs(0..backlog)).await;
    report("broker_kill", &format!("backlog published: {published}"));
    let saving = Instant::now();
    tokio::task::block_in_place(|| broker.save());
    report(
        "broker_kill",
        &format!(
            "snapshot written in {:.1} s ({} bytes)",
            saving.elapsed().as_secs_f64(),
            std::fs::metadata(broker.persistence_file()).unwrap().len()
        ),
    );

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
        "broker_kill",
        &format!("broker SIGKILL with {at_kill} of {want_backlog} stored"),
    );
    assert!(
        at_kill < want_backlog,
        "the backlog was drained before the kill; make it larger"
    );
    tokio::task::block_in_place(|| broker.restart());

    let published = burst::publish(broker.port, fleet.jobs(backlog..per_device)).await;
    report(
        "broker_kill",
        &format!("published after the restart: {published}"),
    );
    wait_for_fixes(&db.url, &svc, want, patience).await;
    let duplicates = svc.metric("sweepwatch_fixes_duplicate_total").await;
    report(
        "broker_kill",
        &format!(
            "{want} fixes stored {:.1} s after the service started; {duplicates} redelivered duplicates",
            started.elapsed().as_secs_f64()
        ),
    );
    settle_and_check(&db.url, &fleet, per_device, Delivery::Redelivered, 0).await;
    assert!(
        duplicates >= 1.0,
        "the restored broker redelivered nothing already stored: the kill did not test redelivery"
    );
}
