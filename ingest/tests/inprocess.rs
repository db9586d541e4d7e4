//! `ingest::InProcess`, the pipeline and writer fed without a broker, against
//! a database of this test's own (127.0.0.1:5432, dropped at the end): what
//! is sent is committed when `settled` returns (fixes and rejects alike), a
//! topic the instance does not subscribe to is refused, and sending waits
//! while the flow has paused reading, then goes on.

mod common;

use ingest::{InProcess, IngestError, MqttConfig, PipelineConfig};

/// A migrated database of the test's own; the pool before the database, so
/// its connections close first.
struct Db {
    pool: store::Pool,
    db: testkit::TestDb,
}

async fn db() -> Db {
    let db = testkit::TestDb::create_with_prefix("swtest_inprocess_").await;
    let pool = common::migrated_pool(&db, 2).await;
    Db { pool, db }
}

fn fix(i: i64) -> String {
    let ts = chrono::Utc::now() - chrono::TimeDelta::seconds(600 - i);
    format!(
        r#"{{"ts":"{}","lat":22.82,"lon":113.67}}"#,
        ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

fn humen_only() -> MqttConfig {
    MqttConfig {
        orgs: vec!["humen".into()],
        ..MqttConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_sent_is_committed_when_settled() {
    let Db { pool, db } = db().await;
    let mut ingest = InProcess::start(pool, &humen_only(), &PipelineConfig::default());
    ingest
        .send("sweepwatch/v1/humen/sw-1/fix", fix(0))
        .await
        .unwrap();
    ingest
        .send("sweepwatch/v1/humen/sw-1/fix", "{not json")
        .await
        .unwrap();
    ingest.settled().await.unwrap();
    // No polling: both are committed once `settled` returns.
    assert_eq!(db.count("SELECT count(*) FROM fixes").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM rejected_messages").await, 1);
    let refused = ingest
        .send("sweepwatch/v1/changan/sw-1/fix", fix(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, IngestError::NotSubscribed(t) if t.contains("changan")),
        "{refused}"
    );
    ingest.stop().await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM fixes").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_waits_while_reading_is_paused_and_everything_is_committed() {
    let Db { pool, db } = db().await;
    // Reading pauses at 2 messages held and resumes at 1: 200 fixes pass
    // through a pipeline that holds at most a few at a time (batches formed
    // after 5 ms, not 50, to keep the test short).
    let cfg = PipelineConfig {
        max_held_messages: 2,
        batch_max_age_ms: 5,
        ..PipelineConfig::default()
    };
    let mut ingest = InProcess::start(pool, &humen_only(), &cfg);
    for i in 0..200 {
        ingest
            .send("sweepwatch/v1/humen/sw-1/fix", fix(i))
            .await
            .unwrap();
        // Never more held than the mark: a send waits until reading resumes.
        let held = ingest.metrics().queue_depth.get();
        assert!(held <= 2, "{held} messages held after fix {i}");
    }
    ingest.settled().await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM fixes").await, 200);
    let pauses = ingest.metrics().queue_pauses.get();
    assert!(pauses > 0, "reading never paused");
}
