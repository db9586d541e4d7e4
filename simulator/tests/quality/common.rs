//! Runs of the bundled town for the quality tests.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use geofence::scenario::ScenarioFile;
use simulator::BrokerOptions;
use simulator::quality::{Score, score};
use simulator::scenario::{Behaviours, Clock, DeviceSelection, Plan, ScenarioRun, plan};

use crate::harness::{Outcome, evaluate};

pub const HUMEN: &str = include_str!("../../../scenarios/humen.json");

pub fn humen() -> ScenarioFile {
    ScenarioFile::from_json(HUMEN).expect("humen.json parses")
}

/// 06:00 in Humen on Tuesday 24 November 2026: the day sweep starts.
pub fn day_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 22, 0, 0).unwrap()
}

/// A replay of `minutes` from the start of the day sweep.
pub fn run(devices: DeviceSelection, behaviours: Behaviours, minutes: u64) -> ScenarioRun {
    let mut o = ScenarioRun::new(BrokerOptions {
        url: "mqtt://127.0.0.1:1".into(),
        username: None,
        password: None,
        client_id_prefix: "t-quality".into(),
    });
    o.seed = 1;
    o.clock = Clock::Replay {
        start: day_start(),
        speed: 60.0,
    };
    o.duration = Duration::from_secs(minutes * 60);
    o.devices = devices;
    o.behaviours = behaviours;
    o
}

pub fn ids(list: &[&str]) -> DeviceSelection {
    DeviceSelection::Ids(list.iter().map(|s| s.to_string()).collect())
}

/// A planned run, what the engine made of it, and its score.
pub struct Checked {
    pub plan: Plan,
    pub outcome: Outcome,
    pub score: Score,
}

impl Checked {
    /// The scorer's table, the route alerts and the device transitions (but the
    /// timers' of devices not in the run), for failure messages.
    pub fn why(&self) -> String {
        let mut s = format!("{}{} fixes evaluated\n", self.score, self.outcome.fixes);
        for r in &self.outcome.route_alerts {
            s.push_str(&format!(
                "  {} {} {:?} {} {}\n",
                r.at.format("%H:%M:%S"),
                r.route,
                r.change,
                r.kind.as_str(),
                r.message
            ));
        }
        s.push_str("transitions:\n");
        let ours = |d: &str| self.plan.truth.kind_of(d).is_some();
        for t in self
            .outcome
            .transitions
            .iter()
            .filter(|t| ours(t.device.as_str()))
        {
            s.push_str(&format!(
                "  {} {} {:?} {} {}\n",
                t.at.format("%H:%M:%S"),
                t.device,
                t.change,
                t.kind.as_str(),
                t.message
            ));
        }
        s
    }
}

pub fn check_with(file: &ScenarioFile, opts: &ScenarioRun) -> Checked {
    let plan = plan(file, opts).expect("a plan");
    let outcome = evaluate(file, &plan);
    let score = score(&plan.truth, &outcome.alerts);
    Checked {
        plan,
        outcome,
        score,
    }
}

pub fn check(opts: &ScenarioRun) -> Checked {
    check_with(&humen(), opts)
}
