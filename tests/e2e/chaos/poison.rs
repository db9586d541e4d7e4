//! Poison messages: one message the database refuses, in the middle of
//! 10,000 good ones. It must be kept in `rejected_messages` with reason
//! `unstorable` (byte for byte, with the database's reason in its detail)
//! while every good fix is stored and nothing stalls. Reproduces "one poison
//! message stops the whole city": today the writer retries the batch holding
//! it forever, with its acks held, and no fix from any device is stored again.

use std::time::Duration;

use super::{Delivery, Fleet, Patience, count, prime, report, settle_and_check, wait_for_fixes};
use crate::helpers::broker::Broker;
use crate::helpers::burst::{self, Job};
use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::helpers::publisher::fix_json;
use crate::helpers::service::Service;
use crate::helpers::unique;

const DEVICES: usize = 100;
const PER_DEVICE: usize = 100;

/// The good fleet's jobs with `poison` in the middle: about half of the good
/// fixes are published before it, the rest after.
fn with_poison_in_the_middle(fleet: &Fleet, poison: Job) -> Vec<Job> {
    let mut jobs = fleet.jobs(0..PER_DEVICE);
    jobs.insert(jobs.len() / 2, poison);
    jobs
}

/// Waits for every good fix and for the one reject, then checks the reject:
/// reason `unstorable`, topic and payload as published; returns its detail.
async fn assert_poison_kept(
    db: &TestDb,
    svc: &Service,
    fleet: &Fleet,
    topic: &str,
    payload: &str,
) -> String {
    let want = (DEVICES * PER_DEVICE) as i64;
    wait_for_fixes(&db.url, svc, want, Patience::for_fixes(want)).await;
    let kept = format!("SELECT count(*) FROM rejected_messages WHERE topic = '{topic}'");
    eventually(
        Duration::from_secs(30),
        "the poison message in rejected_messages",
        || async { (count(&db.url, &kept).await? >= 1).then_some(()) },
    )
    .await;
    settle_and_check(&db.url, fleet, PER_DEVICE, Delivery::Once, 1).await;
    assert_eq!(
        count(
            &db.url,
            "SELECT count(*) FROM rejected_messages WHERE reason = 'unstorable'"
        )
        .await,
        Some(1),
        "the poison message kept with reason 'unstorable'"
    );
    let row = db
        .client()
        .await
        .query_one(
            "SELECT topic, payload, detail FROM rejected_messages WHERE reason = 'unstorable'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), topic);
    assert_eq!(
        row.get::<_, Vec<u8>>(1),
        payload.as_bytes(),
        "the poison payload kept byte for byte"
    );
    row.get(2)
}

/// The issue's poison: valid JSON and a valid status for the decoder, but
/// `\u0000` cannot be stored in `jsonb` (SQLSTATE 22P05).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_with_a_nul_is_kept_as_unstorable_and_every_good_fix_is_stored() {
    const POISON: &str = r#"{"online":true,"note":"\u0000"}"#;
    let broker = Broker::start();
    let db = TestDb::create().await;
    let svc = Service::start(&db.url, &broker.url(), &unique("poison-"), &[]).await;
    let mut fleet = Fleet::new(DEVICES);
    prime(broker.port, &db.url, &mut fleet).await;

    let topic = format!("sweepwatch/v1/{}/{}/status", super::ORG, fleet.device(50));
    let mut poison = Job::new(topic.clone(), vec![POISON.to_owned()]);
    poison.retain = true; // as devices publish their status
    let published = burst::publish(broker.port, with_poison_in_the_middle(&fleet, poison)).await;
    report("poison_status", &format!("published {published}"));
    let detail = assert_poison_kept(&db, &svc, &fleet, &topic, POISON).await;
    report("poison_status", &format!("kept as unstorable: {detail}"));
}

/// The writer's safety net: the database refuses something the decoder
/// cannot know about (a constraint the test adds after the service migrated
/// the database). The fix is kept with the database's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_the_database_refuses_is_kept_as_unstorable_and_every_good_fix_is_stored() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let svc = Service::start(&db.url, &broker.url(), &unique("poison-"), &[]).await;
    let mut fleet = Fleet::new(DEVICES);
    prime(broker.port, &db.url, &mut fleet).await;
    db.client()
        .await
        .batch_execute(
            "ALTER TABLE fixes ADD CONSTRAINT chaos_poison CHECK (seq IS DISTINCT FROM 666666)",
        )
        .await
        .unwrap();

    // Half a second after fix 50 of device 50: its own (device, ts).
    let d = 50;
    let poison = fix_json(
        fleet.base_ms + 50 * 1000 + 500,
        22.8 + d as f64 * 1e-3,
        113.67,
        666_666,
    );
    let topic = fleet.topic(d);
    let job = Job::new(topic.clone(), vec![poison.clone()]);
    let published = burst::publish(broker.port, with_poison_in_the_middle(&fleet, job)).await;
    report("poison_fix", &format!("published {published}"));
    let detail = assert_poison_kept(&db, &svc, &fleet, &topic, &poison).await;
    report("poison_fix", &format!("kept as unstorable: {detail}"));
    assert!(
        detail.contains("chaos_poison"),
        "the reject's detail names the database's reason: {detail:?}"
    );
}
