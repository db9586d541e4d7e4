//! The bundled Humen scenario, replayed by the simulator through a real broker
//! into the service: the planted troubles come out as alerts, the driven
//! routes get coverage, the malformed messages are kept as rejects.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::helpers::broker::Broker;
use crate::helpers::db::TestDb;
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_hour_of_the_bundled_town_raises_the_planted_alerts_and_covers_routes() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sweepwatch"))
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
    let _svc = Service::start(&db.url, &broker.url(), &unique("sim-"), &[]).await;

    let file = geofence::scenario::ScenarioFile::from_json(sweepwatch::BUNDLED_SCENARIO).unwrap();
    let hour = chrono::Duration::hours(1);
    let start =
        simulator::scenario::latest_shift_start(&file, "day-sweep", Utc::now() - hour).unwrap();
    let mut run = simulator::scenario::ScenarioRun::new(simulator::BrokerOptions {
        url: broker.url(),
        username: None,
        password: None,
        client_id_prefix: unique("dev-"),
    });
    run.clock = simulator::scenario::Clock::Replay {
        start,
        speed: 1200.0,
    };
    run.duration = Duration::from_secs(3600);
    let report = simulator::scenario::run_scenario(&file, &run, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(report.published, report.acknowledged);
    assert!(report.counts.sos >= 1 && report.counts.malformed >= 1 && report.counts.backlogs >= 1);

    // Everything valid is stored: every fix, backlog fix and duplicate's original.
    let valid = (report.counts.fixes + report.counts.backlog_fixes + report.counts.sos) as i64;
    eventually(
        Duration::from_secs(120),
        "the replay to be stored",
        || async { (db.count("SELECT count(*) FROM fixes").await >= valid).then_some(()) },
    )
    .await;
    let client = db.client().await;
    let kinds: Vec<String> = client
        .query("SELECT DISTINCT kind FROM alerts ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for want in ["idle", "late_start", "off_area", "offline", "sos"] {
        assert!(
            kinds.iter().any(|k| k == want),
            "no {want} alert among {kinds:?}"
        );
    }
    let (routes, best): (i64, f64) = client
        .query_one(
            "SELECT count(*), coalesce(max(fraction), 0) FROM coverage WHERE fraction > 0",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert!(
        routes >= 10 && best > 0.9,
        "{routes} routes covered, best {best}"
    );
    assert!(
        db.count("SELECT count(*) FROM rejected_messages").await >= report.counts.malformed as i64
    );
    let duplicates: i64 = db.count("SELECT count(*) FROM fixes").await;
    assert_eq!(
        duplicates, valid,
        "each fix stored once, duplicates included"
    );
}
