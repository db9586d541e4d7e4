//! The ground truth of a run: what the simulator planted, one JSON object a line
//! (format `sweepwatch-truth/1`).
//!
//! ```text
//! {"record":"run","format":"sweepwatch-truth/1","org":"humen","start":"...","end":"...","seed":1,
//!  "fix_interval_s":{"vehicle":5.0,"worker":10.0},"devices":[{"id":"sw-001","kind":"sweeper"},...],
//!  "routes":["route-001",...],"rules":{...}}
//! {"record":"trouble","kind":"off_area","device":"sw-003","from":"...","to":"...","behaviour":"take_away","note":"..."}
//! {"record":"trouble","kind":"coverage_at_risk","device":"sw-004","route":"route-017",
//!  "shift":{"id":"day-sweep","date":"2026-11-24","start":"...","end":"..."},"from":"...","to":"...","behaviour":"skip_route"}
//! {"record":"non_trouble","device":"co-004","from":"...","to":"...","behaviour":"transfer_trip","note":"ts-07"}
//! ```
//!
//! The first line says what the run was: its span, the devices that took part (the
//! scorer ignores alerts of others), the routes they sweep, the fix intervals and
//! the org's rule overrides (the debounce of each kind comes from them). Then one
//! line per planted condition, in time order. `from` is the instant the condition
//! starts as the rules define it (the first fix that shows it; for `late_start` the
//! start of the shift instance), `to` the last instant it holds.

use chrono::{DateTime, NaiveDate, Utc};
use geofence::{AlertKind, DeviceKind, RuleConfig};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The format tag of the first line.
pub const FORMAT: &str = "sweepwatch-truth/1";

/// Seconds between fixes, by kind of device.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FixIntervalSecs {
    pub vehicle: f64,
    pub worker: f64,
}

impl FixIntervalSecs {
    pub fn of(&self, kind: DeviceKind) -> f64 {
        if kind == DeviceKind::Worker {
            self.worker
        } else {
            self.vehicle
        }
    }
}

/// A device that took part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDevice {
    pub id: String,
    pub kind: DeviceKind,
}

/// What the run was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub format: String,
    pub org: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub seed: u64,
    pub fix_interval_s: FixIntervalSecs,
    pub devices: Vec<RunDevice>,
    /// Routes assigned to a device of the run that sweeps routes: their
    /// `coverage_at_risk` alerts are in scope.
    pub routes: Vec<String>,
    #[serde(default)]
    pub rules: RuleConfig,
}

/// A shift instance, for the troubles that belong to one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRef {
    pub id: String,
    /// Local date it started on.
    pub date: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One planted condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Planted {
    /// The alert a trouble must raise (`None` for a non-trouble).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AlertKind>,
    /// The device that shows it (for `coverage_at_risk`: the one that skipped the route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The route of a route alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The shift instance it belongs to, where that matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<InstanceRef>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The simulator's behaviour that caused it.
    pub behaviour: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// One line of a truth file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Line {
    Run(RunInfo),
    Trouble(Planted),
    NonTrouble(Planted),
}

/// A whole truth file.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    pub run: RunInfo,
    pub troubles: Vec<Planted>,
    pub non_troubles: Vec<Planted>,
}

/// Why a truth file could not be read.
#[derive(Debug, Error)]
pub enum TruthError {
    #[error("truth file line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("truth file has no run line (the first line, {{\"record\":\"run\",...}})")]
    NoRun,
    #[error("truth file format {0:?} is not {FORMAT:?}")]
    Format(String),
}

impl Truth {
    /// The file's text: the run line, then every planted condition by `from`.
    pub fn to_jsonl(&self) -> String {
        let mut lines: Vec<(DateTime<Utc>, Line)> = self
            .troubles
            .iter()
            .map(|p| (p.from, Line::Trouble(p.clone())))
            .chain(
                self.non_troubles
                    .iter()
                    .map(|p| (p.from, Line::NonTrouble(p.clone()))),
            )
            .collect();
        lines.sort_by_key(|l| l.0);
        let mut out = String::new();
        for l in std::iter::once(Line::Run(self.run.clone())).chain(lines.into_iter().map(|l| l.1))
        {
            // Plain data of our own types: serialising cannot fail.
            out.push_str(&serde_json::to_string(&l).unwrap_or_default());
            out.push('\n');
        }
        out
    }

    /// Reads a truth file's text.
    pub fn from_jsonl(text: &str) -> Result<Self, TruthError> {
        let mut run = None;
        let (mut troubles, mut non_troubles) = (Vec::new(), Vec::new());
        for (i, l) in text.lines().enumerate() {
            if l.trim().is_empty() {
                continue;
            }
            let line: Line = serde_json::from_str(l).map_err(|e| TruthError::Line {
                line: i + 1,
                reason: e.to_string(),
            })?;
            match line {
                Line::Run(r) if r.format != FORMAT => return Err(TruthError::Format(r.format)),
                Line::Run(r) => run = Some(r),
                Line::Trouble(p) if p.kind.is_none() => {
                    return Err(TruthError::Line {
                        line: i + 1,
                        reason: "a trouble needs the kind of alert it must raise".into(),
                    });
                }
                Line::Trouble(p) => troubles.push(p),
                Line::NonTrouble(p) => non_troubles.push(p),
            }
        }
        Ok(Self {
            run: run.ok_or(TruthError::NoRun)?,
            troubles,
            non_troubles,
        })
    }

    /// The kind of a device of the run.
    pub fn kind_of(&self, device: &str) -> Option<DeviceKind> {
        self.run
            .devices
            .iter()
            .find(|d| d.id == device)
            .map(|d| d.kind)
    }
}
