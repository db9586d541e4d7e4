//! The full alert-quality check in process: a whole shift of the bundled town planned
//! with every behaviour, run through the service's codec and a geofence engine
//! configured and ticked as the service does (the quality tests' harness), scored.
//! No broker, no database: a day sweep takes about a minute in a debug build. The
//! same check through the real service is `deploy/local/quality.sh`.
//!
//! ```text
//! cargo run -p simulator --example quality -- [SEED] [SHIFT] [MINUTES]
//!     (defaults: 1, day-sweep, the shift's length)
//! ```
//!
//! Exits with 1 when precision is below 0.95 or recall below 1.0.

#[path = "../tests/quality/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::time::{Duration, Instant};

use geofence::scenario::ScenarioFile;
use simulator::BrokerOptions;
use simulator::quality::score;
use simulator::scenario::{Clock, ScenarioRun, latest_shift_start, plan};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(1);
    let shift = args.get(1).cloned().unwrap_or_else(|| "day-sweep".into());
    let default_minutes = match shift.as_str() {
        "night-wash" => 7 * 60,
        "clean-city-day" => 4 * 60,
        _ => 12 * 60,
    };
    let minutes: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_minutes);
    let file = ScenarioFile::from_json(include_str!("../../scenarios/humen.json"))
        .expect("the bundled scenario");
    let span = chrono::Duration::minutes(minutes as i64);
    let Some(start) = latest_shift_start(&file, &shift, chrono::Utc::now() - span) else {
        eprintln!("no shift {shift:?} in the bundled scenario");
        std::process::exit(2);
    };
    let mut opts = ScenarioRun::new(BrokerOptions {
        url: "mqtt://127.0.0.1:1".into(),
        username: None,
        password: None,
        client_id_prefix: "quality".into(),
    });
    opts.seed = seed;
    opts.clock = Clock::Replay { start, speed: 60.0 };
    opts.duration = Duration::from_secs(minutes * 60);
    let t0 = Instant::now();
    let planned = plan(&file, &opts).expect("a plan");
    let outcome = harness::evaluate(&file, &planned);
    let s = score(&planned.truth, &outcome.alerts);
    print!("{s}");
    println!(
        "({} fixes, planned and evaluated in {:.0?})",
        outcome.fixes,
        t0.elapsed()
    );
    if let Err(why) = s.check(Some(0.95), Some(1.0)) {
        eprintln!("alert quality below the thresholds: {why}");
        std::process::exit(1);
    }
}
