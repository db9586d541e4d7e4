//! Crashes, outages and restarts: nothing published is lost or stored twice.

use std::time::Duration;

use crate::helpers::broker::Broker;
use crate::helpers::db::{SERVER, TestDb};
use crate::helpers::proxy::Proxy;
use crate::helpers::publisher::{Publisher, fix_json, now_ms};
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

const FIXES: &str = "SELECT count(*) FROM fixes";

/// Publishes `n` fixes (spread over 20 devices) in a background task; returns when all are queued.
fn stream(port: u16, n: i64, pace_every: i64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut publisher = Publisher::connect(port).await;
        let base = now_ms() - 600_000;
        for i in 0..n {
            let topic = format!("sweepwatch/v1/humen/dev-{:02}/fix", i % 20);
            publisher
                .publish(&topic, fix_json(base + i, 22.8, 113.67, i as u64))
                .await;
            if i % pace_every == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        publisher.flush().await;
    })
}

async fn wait_exactly(db: &TestDb, want: i64, timeout: Duration) {
    eventually(timeout, &format!("{want} fixes stored"), || async {
        let n = db.count(FIXES).await;
        assert!(
            n <= want,
            "{n} fixes stored, more than the {want} published"
        );
        (n == want).then_some(())
    })
    .await;
    // Nothing else trickles in afterwards.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(db.count(FIXES).await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_a_stream_loses_nothing() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let mut svc = Service::start(&db.url, &broker.url(), &unique("kill-"), &[]).await;
    let n = 30_000;
    let publishing = stream(broker.port, n, 200);
    // Kill it once part of the stream is in, with more in flight.
    eventually(Duration::from_secs(60), "some fixes stored", || async {
        (db.count(FIXES).await > 3_000).then_some(())
    })
    .await;
    svc.kill();
    let at_kill = db.count(FIXES).await;
    assert!(
        at_kill < n,
        "the stream was already complete at the kill; make it longer"
    );
    svc.restart().await;
    publishing.await.unwrap();
    wait_exactly(&db, n, Duration::from_secs(120)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_in_the_middle_of_a_stream_loses_nothing() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let via_proxy = db.url.replace(
        SERVER,
        &format!("postgres://postgres@127.0.0.1:{}", proxy.port),
    );
    let svc = Service::start(&via_proxy, &broker.url(), &unique("outage-"), &[]).await;
    let n = 20_000;
    let publishing = stream(broker.port, n, 100);
    eventually(Duration::from_secs(60), "some fixes stored", || async {
        (db.count(FIXES).await > 2_000).then_some(())
    })
    .await;
    proxy.cut();
    // While the database is away: not ready, and nothing more is stored.
    eventually(
        Duration::from_secs(15),
        "/readyz to report the outage",
        || async { (svc.get("/readyz").await.status().as_u16() == 503).then_some(()) },
    )
    .await;
    let during = db.count(FIXES).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        db.count(FIXES).await,
        during,
        "stored while the database was cut off?"
    );
    assert!(svc.metric("sweepwatch_db_errors_total").await >= 1.0);
    proxy.restore();
    publishing.await.unwrap();
    wait_exactly(&db, n, Duration::from_secs(120)).await;
    svc.wait_ready().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_acknowledges_and_exits_zero() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let mut svc = Service::start(&db.url, &broker.url(), &unique("term-"), &[]).await;
    let n = 10_000;
    let publishing = stream(broker.port, n, 500);
    eventually(Duration::from_secs(60), "some fixes stored", || async {
        (db.count(FIXES).await > 1_000).then_some(())
    })
    .await;
    let status = svc.terminate();
    assert!(status.success(), "exit status {status:?}");
    publishing.await.unwrap();
    // What it did not take before stopping waits in the broker for the next start.
    let stored_at_exit = db.count(FIXES).await;
    svc.restart().await;
    wait_exactly(&db, n, Duration::from_secs(120)).await;
    assert!(stored_at_exit > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribes_when_the_broker_lost_the_session() {
    let mut broker = Broker::start();
    let db = TestDb::create().await;
    let _svc = Service::start(&db.url, &broker.url(), &unique("resub-"), &[]).await;
    let mut publisher = Publisher::connect(broker.port).await;
    publisher
        .publish(
            "sweepwatch/v1/humen/sw-1/fix",
            fix_json(now_ms() - 1000, 22.8, 113.6, 1),
        )
        .await;
    publisher.flush().await;
    wait_exactly(&db, 1, Duration::from_secs(30)).await;

    // A new broker on the same port with no memory of the session.
    let port = broker.port;
    broker.stop();
    let fresh = std::env::temp_dir().join(unique("sweepwatch-broker-fresh-"));
    std::fs::create_dir_all(&fresh).unwrap();
    let broker = Broker::start_in(port, fresh);
    // The service reconnects (its client retries) and must subscribe again.
    eventually(
        Duration::from_secs(30),
        "a fix after the broker restart to be stored",
        || async {
            let mut p = Publisher::connect(broker.port).await;
            p.publish(
                "sweepwatch/v1/humen/sw-1/fix",
                fix_json(now_ms() - 500, 22.8, 113.6, 2),
            )
            .await;
            p.flush().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            (db.count(FIXES).await >= 2).then_some(())
        },
    )
    .await;
}
