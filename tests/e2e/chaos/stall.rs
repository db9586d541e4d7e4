//! The stall watchdog: a statement that fails for a reason that is neither
//! the data's nor transient (here a trigger raising `insufficient_privilege`,
//! as a revoked grant would) holds every ack; the database still answers, so
//! it is a stall, not an outage. `/readyz` says not ready and why,
//! `sweepwatch_ingest_stalled` is 1; once the cause is gone, everything held
//! is stored exactly once and readiness comes back.

use std::time::Duration;

use crate::helpers::broker::Broker;
use crate::helpers::db::TestDb;
use crate::helpers::publisher::{Publisher, fix_json, now_ms};
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_is_reported_by_readyz_and_the_metric_and_ends_when_the_cause_does() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let dir = std::env::temp_dir().join(unique("stall-cfg-"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("sweepwatch.toml");
    std::fs::write(&config, "[pipeline]\nstall_after_secs = 2\n").unwrap();
    let svc = Service::start(
        &db.url,
        &broker.url(),
        &unique("stall-"),
        &[("SWEEPWATCH_CONFIG", config.to_str().unwrap())],
    )
    .await;
    assert_eq!(svc.metric("sweepwatch_ingest_stalled").await, 0.0);
    db.client()
        .await
        .batch_execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'writes to fixes are refused' USING ERRCODE = '42501'; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON fixes EXECUTE FUNCTION refuse();",
        )
        .await
        .unwrap();

    let mut publisher = Publisher::connect(broker.port).await;
    let base = now_ms() - 60_000;
    for i in 0..200 {
        let topic = format!("sweepwatch/v1/humen/st-{:02}/fix", i % 10);
        publisher
            .publish(&topic, fix_json(base + i, 22.8, 113.67, i as u64))
            .await;
    }
    publisher.flush().await;

    let report = eventually(
        Duration::from_secs(60),
        "/readyz to report the stall",
        || async {
            let r = svc.get("/readyz").await;
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.ok()?;
            (status == 503 && body["ingest"].as_str()?.starts_with("stalled")).then_some(body)
        },
    )
    .await;
    assert_eq!(report["database"], "ok", "a stall, not an outage: {report}");
    assert_eq!(report["broker"], "connected", "{report}");
    assert!(
        report["ingest"]
            .as_str()
            .unwrap()
            .contains("messages held and nothing committed"),
        "{report}"
    );
    assert_eq!(svc.metric("sweepwatch_ingest_stalled").await, 1.0);
    assert!(svc.metric("sweepwatch_db_errors_total").await >= 1.0);
    assert_eq!(db.count("SELECT count(*) FROM fixes").await, 0);
    assert_eq!(
        db.count("SELECT count(*) FROM rejected_messages").await,
        0,
        "a refusal that is not the data's fault must not turn fixes into rejects"
    );

    db.client()
        .await
        .batch_execute("DROP TRIGGER refuse ON fixes")
        .await
        .unwrap();
    eventually(Duration::from_secs(60), "all 200 fixes stored", || async {
        (db.count("SELECT count(*) FROM fixes").await == 200).then_some(())
    })
    .await;
    svc.wait_ready().await;
    eventually(
        Duration::from_secs(10),
        "the stall metric back at 0",
        || async { (svc.metric("sweepwatch_ingest_stalled").await == 0.0).then_some(()) },
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}
