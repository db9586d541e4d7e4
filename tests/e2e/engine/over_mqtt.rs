//! The engine's results through the transport and across a process restart,
//! and the gauges `serve` refreshes: the test town imported, `sweepwatch
//! serve` as a child process, fixes published to a Mosquitto of the test's own.

use std::time::Duration;

use super::{Alert, alerts, coverage, morning};
use crate::helpers::api::import;
use crate::helpers::broker::Broker;
use crate::helpers::db::TestDb;
use crate::helpers::publisher::Publisher;
use crate::helpers::service::Service;
use crate::helpers::town::{self, ORG, Script};
use crate::helpers::{eventually, unique};

struct Town {
    broker: Broker,
    db: TestDb,
    svc: Service,
}

async fn town() -> Town {
    town_with(&[]).await
}

async fn town_with(env: &[(&str, &str)]) -> Town {
    let broker = Broker::start();
    let db = TestDb::create().await;
    import(&db.url, &town::scenario());
    let svc = Service::start(&db.url, &broker.url(), &unique("engine-"), env).await;
    Town { broker, db, svc }
}

impl Town {
    /// Publishes the script's fixes in time order and waits until all are stored.
    async fn run(&self, script: &Script) {
        let mut p = Publisher::connect(self.broker.port).await;
        publish(&mut p, &script.messages(ORG)).await;
        self.wait_stored(script.len() as i64).await;
    }

    async fn wait_stored(&self, n: i64) {
        eventually(
            Duration::from_secs(60),
            &format!("{n} fixes stored"),
            || async { (self.db.count("SELECT count(*) FROM fixes").await >= n).then_some(()) },
        )
        .await;
    }
}

async fn publish(p: &mut Publisher, msgs: &[(String, String)]) {
    for (topic, payload) in msgs {
        p.publish(topic, payload.clone()).await;
    }
    p.flush().await;
}

/// What a run's alerts must share with another's: who, what, state, when.
type Strip = (
    String,
    String,
    String,
    chrono::DateTime<chrono::Utc>,
    Option<chrono::DateTime<chrono::Utc>>,
);

fn strip(v: Vec<Alert>) -> Vec<Strip> {
    v.into_iter()
        .map(|a| (a.device, a.kind, a.state, a.opened_at, a.cleared_at))
        .collect()
}

/// The same shift, with the service SIGKILLed and restarted in the middle,
/// stores the same alerts and coverage as an uninterrupted run: rebuilt by
/// replaying every stored fix (no checkpoint yet) ...
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_a_shift_changes_nothing() {
    restart_mid_shift(&[]).await;
}

/// ... and rebuilt from a checkpoint plus the fixes received after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_from_a_checkpoint_changes_nothing() {
    let dir = std::env::temp_dir().join(unique("cfg-"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sweepwatch.toml");
    std::fs::write(&file, "[pipeline]\ncheckpoint_interval_ms = 100\n").unwrap();
    restart_mid_shift(&[("SWEEPWATCH_CONFIG", file.to_str().unwrap())]).await;
    let _ = std::fs::remove_dir_all(dir);
}

async fn restart_mid_shift(env: &[(&str, &str)]) {
    let d = town::test_date();
    let s = morning(d);

    let reference = town().await;
    reference.run(&s).await;

    let mut t = town_with(env).await;
    let msgs = s.messages(ORG);
    let (first, second) = msgs.split_at(msgs.len() / 2);
    let mut p = Publisher::connect(t.broker.port).await;
    publish(&mut p, first).await;
    t.wait_stored(first.len() as i64).await;
    // Let the housekeeping tick checkpoint (when configured to), then kill without warning.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let checkpoints = t.db.count("SELECT count(*) FROM device_state").await;
    assert_eq!(
        checkpoints > 0,
        !env.is_empty(),
        "checkpoint rows: {checkpoints}"
    );
    t.svc.kill();
    publish(&mut p, second).await;
    t.svc.restart().await;
    t.wait_stored(s.len() as i64).await;

    let want = strip(alerts(&reference.db).await);
    assert!(!want.is_empty(), "the scenario raises alerts");
    eventually(
        Duration::from_secs(10),
        "the same alerts after the restart",
        || async {
            let got = strip(alerts(&t.db).await);
            (got == want).then_some(())
        },
    )
    .await;
    let want_cov = coverage(&reference.db, "route-a", "day", d).await.unwrap();
    let got_cov = coverage(&t.db, "route-a", "day", d).await.unwrap();
    assert!(
        (want_cov.0 - got_cov.0).abs() < 1e-9,
        "{want_cov:?} vs {got_cov:?}"
    );
    assert_eq!(want_cov.1.len(), got_cov.1.len());
}

/// The same fixes published as fast as possible and paced out (a replay at two
/// different speeds) store exactly the same alerts and coverage: the engine's
/// clock is the fixes', not the wall's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publishing_speed_does_not_change_the_results() {
    let d = town::test_date();
    let s = morning(d);

    let fast = town().await;
    fast.run(&s).await;

    let slow = town().await;
    let mut p = Publisher::connect(slow.broker.port).await;
    for (i, (topic, payload)) in s.messages(ORG).into_iter().enumerate() {
        p.publish(&topic, payload).await;
        if i % 10 == 0 {
            p.flush().await; // each group lands in its own batch
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    p.flush().await;
    slow.wait_stored(s.len() as i64).await;

    let want = strip(alerts(&fast.db).await);
    assert!(
        want.iter().any(|a| a.1 == "idle") && want.iter().any(|a| a.1 == "offline"),
        "{want:#?}"
    );
    eventually(
        Duration::from_secs(10),
        "the same alerts at both speeds",
        || async { (strip(alerts(&slow.db).await) == want).then_some(()) },
    )
    .await;
    assert_eq!(
        coverage(&fast.db, "route-a", "day", d).await,
        coverage(&slow.db, "route-a", "day", d).await
    );
}

/// `serve` refreshes the alert gauges from the database (its gauges task,
/// every 5 s) into the registry `/metrics` shows: an SOS is counted open.
/// (The engine's side of the SOS is `in_process::sos_stays_open_…`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_counts_an_open_sos_in_its_alert_gauges() {
    let t = town().await;
    let d = town::test_date();
    let mut s = town::script();
    s.sos("wk-1", town::local(d, 6, 10, 7), (200.0, 600.0), true);
    t.run(&s).await;
    eventually(
        Duration::from_secs(15),
        "the open-alert gauge to count the SOS",
        || async {
            (t.svc.metric("sweepwatch_alerts_open{kind=\"sos\"}").await == 1.0).then_some(())
        },
    )
    .await;
    assert!(
        t.svc
            .metric("sweepwatch_alerts_unacknowledged_oldest_seconds{kind=\"sos\"}")
            .await
            > 0.0
    );
}

/// SIGKILLed while fixes are still streaming in (under load the writer writes
/// coverage and daily summaries at most once a second, so some of the stored
/// fixes' rollups may be unwritten), then restarted: the same alerts, coverage
/// and daily summaries as an uninterrupted run. The rebuild replays the stored
/// fixes since the checkpoint and writes what they derive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_while_streaming_loses_no_coverage_or_summary() {
    let d = town::test_date();
    let s = morning(d);
    let reference = town().await;
    reference.run(&s).await;

    let mut t = town().await;
    let msgs = s.messages(ORG);
    let mut p = Publisher::connect(t.broker.port).await;
    publish(&mut p, &msgs).await;
    // Killed as soon as some, not all, are stored (when the machine is fast
    // enough to store them all first, this is the restart test again).
    let half = msgs.len() as i64 / 4;
    eventually(Duration::from_secs(60), "a quarter stored", || async {
        (t.db.count("SELECT count(*) FROM fixes").await >= half).then_some(())
    })
    .await;
    t.svc.kill();
    t.svc.restart().await;
    t.wait_stored(s.len() as i64).await;

    let want = strip(alerts(&reference.db).await);
    eventually(Duration::from_secs(10), "the same alerts", || async {
        (strip(alerts(&t.db).await) == want).then_some(())
    })
    .await;
    let want_daily = daily(&reference.db).await;
    assert!(!want_daily.is_empty(), "the scenario has daily summaries");
    eventually(
        Duration::from_secs(10),
        "the same daily summaries",
        || async { (daily(&t.db).await == want_daily).then_some(()) },
    )
    .await;
    let want_cov = coverage(&reference.db, "route-a", "day", d).await.unwrap();
    eventually(Duration::from_secs(10), "the same coverage", || async {
        let got = coverage(&t.db, "route-a", "day", d).await?;
        ((want_cov.0 - got.0).abs() < 1e-9 && want_cov.1.len() == got.1.len()).then_some(())
    })
    .await;
}

/// Every device's daily summaries, as text (distance to the millimetre).
async fn daily(db: &TestDb) -> Vec<Vec<String>> {
    db.client()
        .await
        .query(
            "SELECT d.name, y.date::text, round(y.distance_m::numeric, 3)::text,
                    y.working_s::text, y.transit_s::text, y.idle_s::text
             FROM device_daily y JOIN devices d ON d.id = y.device_id ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (0..6).map(|i| r.get::<_, String>(i)).collect())
        .collect()
}
