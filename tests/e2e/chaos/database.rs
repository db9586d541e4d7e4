//! The database server itself restarted in the middle of a stream: a
//! PostgreSQL cluster of the test's own, `pg_ctl stop -m fast` (every
//! session dropped, open transactions rolled back), a few seconds down,
//! `pg_ctl start`. Unlike a proxy cut, the server really goes away: the
//! service's pooled connections die with it and the batch in flight is
//! rolled back by the server, not by the client.

use std::time::{Duration, Instant};

use super::{
    Delivery, FIXES, Fleet, Patience, count, prime, report, settle_and_check, wait_for_fixes,
};
use crate::helpers::broker::Broker;
use crate::helpers::burst;
use crate::helpers::pgcluster::PgCluster;
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

/// How long the database stays down.
const OUTAGE: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_restart_mid_stream_loses_nothing_and_stores_nothing_twice() {
    let (devices, per_device) = (1_000, 200);
    let want = (devices * per_device) as i64;
    let mut pg = tokio::task::block_in_place(PgCluster::start);
    let db_url = pg.create_database("sweepwatch").await;
    let broker = Broker::start();
    let svc = Service::start(&db_url, &broker.url(), &unique("pgrestart-"), &[]).await;
    let mut fleet = Fleet::new(devices);
    prime(broker.port, &db_url, &mut fleet).await;

    let started = Instant::now();
    let port = broker.port;
    let jobs = fleet.jobs(0..per_device);
    let publishing = tokio::spawn(async move { burst::publish(port, jobs).await });
    let patience = Patience::for_fixes(want);
    eventually(
        patience.deadline,
        "a fifth of the stream stored",
        || async { (count(&db_url, FIXES).await? >= want / 5).then_some(()) },
    )
    .await;
    tokio::task::block_in_place(|| pg.stop_fast());
    let during = publishing.is_finished();
    report(
        "database",
        &format!(
            "database stopped {:.1} s into the stream (publisher {})",
            started.elapsed().as_secs_f64(),
            if during { "done" } else { "still publishing" }
        ),
    );
    eventually(
        Duration::from_secs(15),
        "/readyz to report the database down",
        || async {
            let r = reqwest::get(format!("{}/readyz", svc.http)).await.ok()?;
            (r.status().as_u16() == 503).then_some(())
        },
    )
    .await;
    // The outage itself: nothing to wait for, the database is simply away.
    tokio::time::sleep(OUTAGE).await;
    tokio::task::block_in_place(|| pg.start_again());

    let published = publishing.await.unwrap();
    report("database", &format!("published {published}"));
    wait_for_fixes(&db_url, &svc, want, patience).await;
    report(
        "database",
        &format!(
            "{want} fixes stored {:.1} s after the stream began; {} database errors",
            started.elapsed().as_secs_f64(),
            svc.metric("sweepwatch_db_errors_total").await
        ),
    );
    // At least once for the bad messages: a commit the server made just as
    // it went down may never have been confirmed to the service, which then
    // writes the batch again (fixes are deduplicated by key, rejects are not).
    settle_and_check(&db_url, &fleet, per_device, Delivery::Redelivered, 0).await;
    // The service noticed the outage: a commit failed, or (when the writer
    // was between batches as the database went) the lease's connection broke
    // and the instance stopped ingesting until it held the lease again.
    let errors = svc.metric("sweepwatch_db_errors_total").await;
    let lost = svc.metric("sweepwatch_ingest_lease_lost_total").await;
    report(
        "database",
        &format!("{errors} database errors, lease lost {lost} times"),
    );
    assert!(
        errors >= 1.0 || lost >= 1.0,
        "{errors} errors, lease lost {lost} times"
    );
    svc.wait_ready().await;
}
