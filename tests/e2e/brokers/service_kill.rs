//! A backlog the broker held for the service's persistent session while the
//! service was stopped, and a SIGKILL of the service while it drains it: what
//! it committed but had not acknowledged comes again and is stored once.

use std::time::Instant;

use crate::chaos::{Delivery, FIXES, Fleet, Patience, count, prime, report};
use crate::chaos::{settle_and_check, wait_for_fixes};
use crate::helpers::brokers::{AnyBroker, Kind};
use crate::helpers::burst;
use crate::helpers::db::TestDb;
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

pub async fn run(kind: Kind) {
    let (devices, per_device) = (300, 100);
    let broker = AnyBroker::start(kind);
    let db = TestDb::create().await;
    let mut svc = Service::start(&db.url, &broker.url(), &unique("brokers-kill-"), &[]).await;
    let mut fleet = Fleet::new(devices);
    prime(broker.port(), &db.url, &mut fleet).await;
    let status = svc.terminate();
    assert!(status.success(), "sweepwatch exited with {status:?}");
    let published = burst::publish(broker.port(), fleet.jobs(0..per_device)).await;
    report(
        "brokers::service_kill",
        &format!("{kind:?}: published while stopped: {published}"),
    );
    let want = fleet.fixes(per_device);

    let started = Instant::now();
    svc.restart().await;
    let patience = Patience::for_fixes(want);
    eventually(
        patience.deadline,
        "a quarter of the backlog stored",
        || async { (count(&db.url, FIXES).await? >= want / 4).then_some(()) },
    )
    .await;
    svc.kill();
    let at_kill = count(&db.url, FIXES).await.unwrap();
    report(
        "brokers::service_kill",
        &format!("{kind:?}: SIGKILL with {at_kill} of {want} stored"),
    );
    assert!(
        at_kill < want,
        "the backlog was drained before the kill; make it larger"
    );
    let restarted = Instant::now();
    svc.restart().await;
    wait_for_fixes(&db.url, &svc, want, patience).await;
    report(
        "brokers::service_kill",
        &format!(
            "{kind:?}: {want} fixes stored {:.1} s after the first start, {:.1} s after the restart; \
             duplicates seen after the restart: {}",
            started.elapsed().as_secs_f64(),
            restarted.elapsed().as_secs_f64(),
            svc.metric("sweepwatch_fixes_duplicate_total").await
        ),
    );
    settle_and_check(&db.url, &fleet, per_device, Delivery::Redelivered, 0).await;
}
