//! The engine in the pipeline: fix scripts (`testkit::script`) of the test
//! town fed to ingest, asserting on the alerts and coverage stored. Fix times
//! are a few days in the past (a replay), so the engine runs on event time
//! alone.
//!
//! - `in_process`: the engine's behaviour (coverage, night wash, welfare idle,
//!   offline, SOS and off-area, a late backlog, final coverage). The messages
//!   go straight into ingest's pipeline and writer (`ingest::InProcess`):
//!   same decoder, writer, engines and transaction as over MQTT, against a
//!   real database of the test's own, with no broker and no child process.
//! - `over_mqtt`: what needs the transport or a process: a SIGKILL and
//!   restart in the middle of a shift, and two publishing speeds through a
//!   broker to the `sweepwatch serve` binary.

mod in_process;
mod over_mqtt;

use chrono::{DateTime, NaiveDate, Utc};

use crate::helpers::db::TestDb;
use crate::helpers::town::{self, Script, local};

#[derive(Debug, Clone, PartialEq)]
struct Alert {
    device: String,
    kind: String,
    state: String,
    opened_at: DateTime<Utc>,
    cleared_at: Option<DateTime<Utc>>,
    message: String,
    district: Option<String>,
    chief: Option<String>,
    shift_date: Option<NaiveDate>,
}

fn of<'a>(alerts: &'a [Alert], device: &str, kind: &str) -> Vec<&'a Alert> {
    alerts
        .iter()
        .filter(|a| a.device == device && a.kind == kind)
        .collect()
}

/// The stored alerts, oldest first.
async fn alerts(db: &TestDb) -> Vec<Alert> {
    let rows = db
        .client()
        .await
        .query(
            "SELECT d.name, a.kind, a.state, a.opened_at, a.cleared_at, a.message, a.district, a.chief, a.shift_date
             FROM alerts a JOIN devices d ON d.id = a.device_id ORDER BY a.opened_at, d.name, a.kind",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| Alert {
            device: r.get(0),
            kind: r.get(1),
            state: r.get(2),
            opened_at: r.get(3),
            cleared_at: r.get(4),
            message: r.get(5),
            district: r.get(6),
            chief: r.get(7),
            shift_date: r.get(8),
        })
        .collect()
}

/// (fraction, missed stretches as (from_m, to_m)) of a route in a shift instance.
async fn coverage(
    db: &TestDb,
    route: &str,
    shift: &str,
    date: NaiveDate,
) -> Option<(f64, Vec<(f64, f64)>)> {
    let row = db
        .client()
        .await
        .query_opt(
            "SELECT fraction, report FROM coverage WHERE route_id = $1 AND shift_id = $2 AND shift_date = $3",
            &[&route, &shift, &date],
        )
        .await
        .unwrap()?;
    let report: serde_json::Value = row.get(1);
    let missed = report["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["from_m"].as_f64().unwrap(), s["to_m"].as_f64().unwrap()))
        .collect();
    Some((row.get(0), missed))
}

/// A morning of the test town that raises idle and offline alerts and sweeps
/// route A: the sweeper sweeps, stands 14 min off work, goes silent, sweeps the
/// rest; wk-1 walks all morning (moving the org's clock); wk-2 walks, stands, walks on.
fn morning(d: NaiveDate) -> Script {
    let mut s = town::script();
    // The sweeper is then silent 06:20-06:35 (offline) and sweeps the rest.
    s.walk(
        "sw-1",
        local(d, 6, 35, 0),
        local(d, 6, 38, 0),
        (800.0, 0.0),
        (1000.0, 0.0),
        5,
        true,
    );
    s.walk(
        "sw-1",
        local(d, 6, 0, 0),
        local(d, 6, 6, 0),
        (0.0, 0.0),
        (800.0, 0.0),
        5,
        true,
    );
    s.stay(
        "sw-1",
        local(d, 6, 6, 5),
        local(d, 6, 20, 0),
        (800.0, 0.0),
        10,
        false,
    );
    s.walk(
        "wk-1",
        local(d, 6, 0, 0),
        local(d, 6, 40, 0),
        (0.0, 600.0),
        (500.0, 600.0),
        20,
        true,
    );
    s.walk(
        "wk-2",
        local(d, 6, 0, 0),
        local(d, 6, 10, 0),
        (0.0, 800.0),
        (150.0, 800.0),
        20,
        true,
    );
    s.stay(
        "wk-2",
        local(d, 6, 10, 20),
        local(d, 6, 35, 0),
        (150.0, 800.0),
        30,
        true,
    );
    s.walk(
        "wk-2",
        local(d, 6, 35, 20),
        local(d, 6, 40, 0),
        (150.0, 800.0),
        (300.0, 800.0),
        20,
        true,
    );
    s
}
