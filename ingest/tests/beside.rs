//! Rollups and checkpoints too large for a batch (more than the writer's
//! 1,000 rows) are written beside ingest, in a transaction of their own, and
//! still all land: daily summaries and device states of 1,500 devices, and a
//! restart from them derives nothing twice. Against a database of this
//! test's own (127.0.0.1:5432, dropped at the end), fed through
//! `ingest::InProcess`.

mod common;

use std::time::Duration;

use ingest::{InProcess, MqttConfig, PipelineConfig};

const DEVICES: usize = 1_500;

fn fix(secs_ago: i64, east_m: f64) -> String {
    let ts = chrono::Utc::now() - chrono::TimeDelta::seconds(secs_ago);
    format!(
        r#"{{"ts":"{}","lat":22.82,"lon":{:.7},"speed":4.0}}"#,
        ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        113.67 + east_m / 102_000.0
    )
}

/// Every device's daily distance, summed (metres, rounded).
async fn distance_m(db: &testkit::TestDb) -> f64 {
    db.client()
        .await
        .query_one("SELECT round(sum(distance_m)) FROM device_daily", &[])
        .await
        .unwrap()
        .get::<_, Option<f64>>(0)
        .unwrap_or(0.0)
}

fn rollups_written_beside(ingest: &InProcess) -> u64 {
    ingest
        .registry()
        .gather()
        .iter()
        .find(|f| f.name() == "sweepwatch_db_rollups_seconds")
        .map_or(0, |f| f.get_metric()[0].get_histogram().get_sample_count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_and_checkpoints_too_large_for_a_batch_are_written_beside_it() {
    let db = testkit::TestDb::create_with_prefix("swtest_beside_").await;
    let pool = common::migrated_pool(&db, 4).await;
    // An org with the default rules: every device of it has an engine state
    // and a daily summary.
    db.client()
        .await
        .batch_execute("INSERT INTO orgs (id, name, timezone) VALUES ('humen', 'Humen', 'UTC')")
        .await
        .unwrap();
    let mqtt = MqttConfig {
        orgs: vec!["humen".into()],
        ..MqttConfig::default()
    };
    let cfg = PipelineConfig {
        checkpoint_interval_ms: 200,
        ..PipelineConfig::default()
    };
    let mut ingest = InProcess::start(pool.clone(), &mqtt, &cfg);
    let mut last = String::new();
    for step in 0..2 {
        for d in 0..DEVICES {
            last = fix(120 - step * 30, step as f64 * 50.0);
            ingest
                .send(&format!("sweepwatch/v1/humen/dev-{d:04}/fix"), last.clone())
                .await
                .unwrap();
        }
    }
    ingest.settled().await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM fixes").await,
        2 * DEVICES as i64
    );
    testkit::eventually(
        Duration::from_secs(30),
        "every device's summary and state written",
        || async {
            let daily = db
                .count("SELECT count(DISTINCT device_id) FROM device_daily")
                .await;
            let state = db.count("SELECT count(*) FROM device_state").await;
            (daily == DEVICES as i64 && state == DEVICES as i64).then_some(())
        },
    )
    .await;
    assert!(
        rollups_written_beside(&ingest) >= 1,
        "{DEVICES} devices' rollups are more than a batch takes: written beside it"
    );
    let before = distance_m(&db).await;
    assert!(before > 0.0, "each device moved 50 m");
    ingest.stop().await.unwrap();

    // A new writer restores from what was written beside and counts nothing
    // twice: the last fix sent again (a redelivery) and a fix 50 m on.
    let mut again = InProcess::start(pool, &mqtt, &cfg);
    let topic = format!("sweepwatch/v1/humen/dev-{:04}/fix", DEVICES - 1);
    again.send(&topic, last).await.unwrap();
    again.send(&topic, fix(60, 100.0)).await.unwrap();
    again.settled().await.unwrap();
    again.stop().await.unwrap();
    let moved = distance_m(&db).await - before;
    assert!(
        (45.0..=55.0).contains(&moved),
        "after the restart only the new fix's 50 m are added, not the redelivered one's: {moved}"
    );
}
