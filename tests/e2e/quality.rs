//! Alert quality through the real service (issue 13): the bundled town imported, a
//! slice of the day sweep replayed at high speed through a real broker with every
//! behaviour that fits in it, the ground truth written by the simulator, and
//! `sweepwatch score` run against the database with thresholds, as CI runs it. The
//! full check (whole shifts, several seeds) is `deploy/local/quality.sh`, see
//! docs/QUALITY.md.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::helpers::broker::Broker;
use crate::helpers::db::TestDb;
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

/// Simulated minutes replayed: long enough for every planted trouble of the default
/// behaviours to open (the last, a cleaner's 20-minute welfare check, at 21 min).
const MINUTES: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_slice_of_the_day_sweep_raises_every_planted_trouble_and_nothing_else() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let bin = env!("CARGO_BIN_EXE_sweepwatch");
    let out = std::process::Command::new(bin)
        .args([
            "import",
            concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/humen.json"),
        ])
        .env("SWEEPWATCH_DATABASE_URL", &db.url)
        .env("SWEEPWATCH_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _svc = Service::start(&db.url, &broker.url(), &unique("quality-"), &[]).await;

    let file = geofence::scenario::ScenarioFile::from_json(sweepwatch::BUNDLED_SCENARIO).unwrap();
    let span = chrono::Duration::minutes(MINUTES as i64);
    let start =
        simulator::scenario::latest_shift_start(&file, "day-sweep", Utc::now() - span).unwrap();
    let dir = std::env::temp_dir().join(unique("sweepwatch-quality-"));
    std::fs::create_dir_all(&dir).unwrap();
    let truth = dir.join("truth.jsonl");
    let mut run = simulator::scenario::ScenarioRun::new(simulator::BrokerOptions {
        url: broker.url(),
        username: None,
        password: None,
        client_id_prefix: unique("dev-"),
    });
    run.clock = simulator::scenario::Clock::Replay {
        start,
        speed: 120.0,
    };
    run.duration = Duration::from_secs(MINUTES * 60);
    // Eight of each kind: 16 vehicles on shift, 8 washers off it (one works anyway),
    // 8 cleaners; every behaviour on.
    run.devices = simulator::scenario::DeviceSelection::PerKind(8);
    run.truth = Some(truth.clone());
    let t0 = std::time::Instant::now();
    let report = simulator::scenario::run_scenario(&file, &run, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(report.published, report.acknowledged);

    let valid = (report.counts.fixes + report.counts.backlog_fixes + report.counts.sos) as i64;
    eventually(
        Duration::from_secs(120),
        "the replay to be stored",
        || async { (db.count("SELECT count(*) FROM fixes").await >= valid).then_some(()) },
    )
    .await;
    let planted = std::fs::read_to_string(&truth).unwrap();
    let troubles = planted.matches(r#""record":"trouble""#).count();
    assert!(troubles >= 9, "{troubles} troubles planted:\n{planted}");

    let out = std::process::Command::new(bin)
        .args([
            "score",
            "--min-precision",
            "0.95",
            "--min-recall",
            "1.0",
            "--truth",
        ])
        .arg(&truth)
        .env("SWEEPWATCH_DATABASE_URL", &db.url)
        .env("SWEEPWATCH_LOG", "warn")
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    eprintln!("{table}(replayed and scored in {:?})", t0.elapsed());
    assert!(
        out.status.success(),
        "score: {}\n{table}\ntruth:\n{planted}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.contains("\nall "), "{table}");
    let _ = std::fs::remove_dir_all(&dir);
}
