//! Active/standby (issue 17): two instances with one MQTT client id and one
//! database. Exactly one holds the ingest lease and ingests; the other serves
//! the API and waits, not connected to the broker. When the active one dies or
//! loses its database, the standby takes over the broker's persistent session,
//! and every fix is stored exactly once.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{
    Delivery, FIXES, Fleet, Patience, count, prime, report, settle_and_check, wait_for_fixes,
};
use crate::helpers::broker::Broker;
use crate::helpers::burst;
use crate::helpers::db::{SERVER, TestDb};
use crate::helpers::eventually;
use crate::helpers::proxy::Proxy;
use crate::helpers::service::Service;
use crate::helpers::unique;

/// `/readyz`'s `role` (answered also when not ready; `None` while the process
/// does not answer).
async fn role(svc: &Service) -> Option<String> {
    let r = reqwest::get(format!("{}/readyz", svc.http)).await.ok()?;
    let v: Value = r.json().await.ok()?;
    v["role"].as_str().map(str::to_owned)
}

async fn wait_role(svc: &Service, want: &str, within: Duration, what: &str) -> Duration {
    let started = Instant::now();
    eventually(within, what, || async {
        (role(svc).await.as_deref() == Some(want)).then_some(())
    })
    .await;
    started.elapsed()
}

/// A standby holds no broker connection and ingests nothing.
async fn assert_standby(svc: &Service) {
    assert_eq!(role(svc).await.as_deref(), Some("standby"));
    assert_eq!(svc.metric("sweepwatch_ingest_active").await, 0.0);
    assert_eq!(svc.metric("sweepwatch_mqtt_connected").await, 0.0);
}

/// `active` (its database at `active_db`) started first and active, then
/// `standby` (the test database directly) with the same client id.
async fn pair(broker: &Broker, db: &TestDb, active_db: &str, id: &str) -> (Service, Service) {
    let a = Service::start(active_db, &broker.url(), id, &[]).await;
    wait_role(
        &a,
        "active",
        Duration::from_secs(15),
        "the first instance active",
    )
    .await;
    let b = Service::start(&db.url, &broker.url(), id, &[]).await;
    assert_standby(&b).await;
    (a, b)
}

/// 100,000 fixes from 500 devices published unpaced; returns once a quarter
/// is stored, with the publisher still running.
async fn stream(
    broker: &Broker,
    db: &TestDb,
) -> (
    Fleet,
    usize,
    i64,
    Patience,
    tokio::task::JoinHandle<burst::Burst>,
) {
    let (devices, per_device) = (500, 200);
    let want = (devices * per_device) as i64;
    let mut fleet = Fleet::new(devices);
    prime(broker.port, &db.url, &mut fleet).await;
    let publishing = tokio::spawn(burst::publish(broker.port, fleet.jobs(0..per_device)));
    let patience = Patience::for_fixes(want);
    eventually(patience.deadline, "a quarter stored", || async {
        (count(&db.url, FIXES).await? >= want / 4).then_some(())
    })
    .await;
    (fleet, per_device, want, patience, publishing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_started_at_once_exactly_one_becomes_active() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let id = unique("ha-both-");
    let mqtt = broker.url();
    let (a, b) = tokio::join!(
        Service::start(&db.url, &mqtt, &id, &[]),
        Service::start(&db.url, &mqtt, &id, &[]),
    );
    eventually(Duration::from_secs(15), "one instance active", || async {
        let roles = [role(&a).await, role(&b).await];
        roles
            .iter()
            .any(|r| r.as_deref() == Some("active"))
            .then_some(())
    })
    .await;
    // And it stays so over several lease checks and standby attempts.
    for _ in 0..5 {
        let roles = [role(&a).await, role(&b).await];
        let active = roles
            .iter()
            .filter(|r| r.as_deref() == Some("active"))
            .count();
        let standby = roles
            .iter()
            .filter(|r| r.as_deref() == Some("standby"))
            .count();
        assert_eq!((active, standby), (1, 1), "roles: {roles:?}");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let actives =
        a.metric("sweepwatch_ingest_active").await + b.metric("sweepwatch_ingest_active").await;
    assert_eq!(actives, 1.0);
    let standby = if role(&a).await.as_deref() == Some("standby") {
        &a
    } else {
        &b
    };
    assert_standby(standby).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_active_instance_the_standby_takes_over_and_every_fix_is_stored_once() {
    let test = "failover_kill";
    let broker = Broker::start();
    let db = TestDb::create().await;
    let (mut a, b) = pair(&broker, &db, &db.url, &unique("ha-kill-")).await;
    let (fleet, per_device, want, patience, publishing) = stream(&broker, &db).await;
    a.kill();
    let at_kill = count(&db.url, FIXES).await.unwrap();
    assert!(
        at_kill < want,
        "everything was stored before the kill; make the stream larger"
    );
    let took = wait_role(
        &b,
        "active",
        Duration::from_secs(15),
        "the standby to take over within 15 s",
    )
    .await;
    report(
        test,
        &format!(
            "SIGKILL with {at_kill} of {want} stored; standby active {:.1} s later",
            took.as_secs_f64()
        ),
    );
    let published = publishing.await.unwrap();
    report(test, &format!("published: {published}"));
    wait_for_fixes(&db.url, &b, want, patience).await;
    settle_and_check(&db.url, &fleet, per_device, Delivery::Redelivered, 0).await;
    assert_eq!(
        b.metric("sweepwatch_ingest_lease_acquired_total").await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_instance_cut_from_its_database_steps_down_and_the_standby_takes_over() {
    let test = "failover_cut";
    let broker = Broker::start();
    let db = TestDb::create().await;
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let via_proxy = db.url.replace(
        SERVER,
        &format!("postgres://postgres@127.0.0.1:{}", proxy.port),
    );
    let (a, b) = pair(&broker, &db, &via_proxy, &unique("ha-cut-")).await;
    let (fleet, per_device, want, patience, publishing) = stream(&broker, &db).await;
    proxy.cut();
    let at_cut = count(&db.url, FIXES).await.unwrap();
    assert!(
        at_cut < want,
        "everything was stored before the cut; make the stream larger"
    );
    let stepped_down = wait_role(
        &a,
        "standby",
        Duration::from_secs(15),
        "the instance cut from its database to step down",
    )
    .await;
    let took = wait_role(
        &b,
        "active",
        Duration::from_secs(15),
        "the standby to take over within 15 s",
    )
    .await;
    report(
        test,
        &format!(
            "cut with {at_cut} of {want} stored; stepped down after {:.1} s, standby active after {:.1} s",
            stepped_down.as_secs_f64(),
            (stepped_down + took).as_secs_f64()
        ),
    );
    publishing.await.unwrap();
    wait_for_fixes(&db.url, &b, want, patience).await;
    settle_and_check(&db.url, &fleet, per_device, Delivery::Redelivered, 0).await;

    // Its database back, the old active stays a standby: the lease is taken.
    proxy.restore();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_standby(&a).await;
    assert_eq!(role(&b).await.as_deref(), Some("active"));
    assert_eq!(a.metric("sweepwatch_ingest_lease_lost_total").await, 1.0);
}
