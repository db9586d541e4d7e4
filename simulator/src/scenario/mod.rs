//! Scenario mode: the devices of a scenario file (`sweepwatch-scenario/1`, see
//! [`geofence::scenario`]) drive their routes and walk their beats on their shifts, and
//! publish what real devices would, behaviours and faults included.
//!
//! [`Planner`] is pure and deterministic: from the file, the options and the seed it
//! produces every message of the run, window by window, in publish order, each stamped
//! with its simulated publish time. [`plan`] collects them all; [`run_scenario`] publishes
//! them to a broker paced by the [`Clock`] (real time, or a replay at a speed factor).
//!
//! Parts: `options` (what a run does) and `behaviours` (every behaviour's switch and
//! knobs); `roles` (which device shows which behaviour); `program` (a device's itinerary
//! from its assigned areas); `walker` (moving along it, each step tagged with what it is
//! part of); `device` (one device's fixes and messages), `onshift` (coming on shift,
//! working off shift), `behave` (the behaviours as detours, placed where they are
//! unambiguous under the rules); `reach` (the working area as the rules define it);
//! `witness`, `observe`, `swept` and `assemble` (the ground truth read off what each
//! device does, and put together); `payload` (message bytes); `publish` (MQTT, and the
//! truth file).

mod assemble;
mod behave;
mod behaviours;
mod device;
mod geom;
mod observe;
mod onshift;
mod options;
mod payload;
mod planner;
mod program;
mod publish;
mod reach;
pub(crate) mod rng;
mod roles;
mod swept;
mod walker;
mod witness;

use std::time::Duration;

use chrono::{DateTime, Utc};
use geofence::scenario::{ScenarioErrors, ScenarioFile};
use thiserror::Error;

use crate::mqtt::BrokerUrlError;

pub use behaviours::{
    Backlog, Behaviours, Breaks, Dropout, Duplicates, Edge, Idle, LateStart, LeaveArea, Malformed,
    Noise, OffRoute, OffShift, Silent, SkipRoute, Sos, Speeding, TakeAway, TrafficJam,
    TransferTrips,
};
pub use options::{Clock, Connections, DeviceSelection, FixIntervals, ScenarioRun};
pub use payload::{MAX_BACKLOG_BYTES, MAX_BACKLOG_FIXES};
pub use planner::{Planner, latest_shift_start, plan};
pub use publish::run_scenario;

/// A whole run, planned: its messages in publish order, and its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub messages: Vec<PlannedMessage>,
    pub truth: crate::quality::Truth,
}

/// One message of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMessage {
    /// Simulated publish time.
    pub at: DateTime<Utc>,
    /// The device it comes from.
    pub device: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    pub kind: MessageKind,
}

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Retained `{"online":bool}` on `.../status`.
    Status,
    /// A fix on `.../fix`.
    Fix,
    /// An OwnTracks location on `owntracks/{user}/{device}`.
    OwnTracks,
    /// A stored-and-forwarded array of fixes on `.../fixes`.
    Backlog,
    /// A fix (or OwnTracks location) published a second time.
    Duplicate,
    /// A message the service must reject.
    Malformed,
    /// A fix with `sos:true`.
    Sos,
}

/// Messages by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub status: u64,
    pub fixes: u64,
    pub owntracks: u64,
    pub backlogs: u64,
    /// Fixes inside the backlog messages.
    pub backlog_fixes: u64,
    pub duplicates: u64,
    pub malformed: u64,
    pub sos: u64,
}

impl Counts {
    pub fn add(&mut self, m: &PlannedMessage) {
        match m.kind {
            MessageKind::Status => self.status += 1,
            MessageKind::Fix => self.fixes += 1,
            MessageKind::OwnTracks => self.owntracks += 1,
            MessageKind::Backlog => {
                self.backlogs += 1;
                let n = m.payload.windows(5).filter(|w| w == b"\"ts\":").count();
                self.backlog_fixes += n as u64;
            }
            MessageKind::Duplicate => self.duplicates += 1,
            MessageKind::Malformed => self.malformed += 1,
            MessageKind::Sos => self.sos += 1,
        }
    }

    pub fn of<'a>(msgs: impl IntoIterator<Item = &'a PlannedMessage>) -> Self {
        let mut c = Self::default();
        for m in msgs {
            c.add(m);
        }
        c
    }

    /// Messages in all.
    pub fn messages(&self) -> u64 {
        self.status
            + self.fixes
            + self.owntracks
            + self.backlogs
            + self.duplicates
            + self.malformed
            + self.sos
    }
}

/// What a run published.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub counts: Counts,
    /// Messages handed to the MQTT clients.
    pub published: u64,
    /// Of those, acknowledged by the broker (PUBACK).
    pub acknowledged: u64,
    /// The simulated span of the run.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Simulated publish times of the first and last message published.
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    /// Wall time the run took.
    pub elapsed: Duration,
    /// Whether it was cancelled before the end.
    pub cancelled: bool,
    /// What the JT/T 808 terminals did, when the run had some.
    pub terminals: Option<TerminalReport>,
}

/// Why a scenario run failed. URLs in messages have their password redacted.
#[derive(Debug, Error)]
pub enum SimError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Scenario(#[from] ScenarioErrors),
    #[error("invalid scenario run options: {0}")]
    InvalidOptions(String),
    #[error(transparent)]
    Url(#[from] BrokerUrlError),
    #[error("cannot connect to the MQTT broker at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("MQTT connection {connection} to {url} failed during the run: {reason}")]
    ConnectionLost {
        url: String,
        connection: String,
        reason: String,
    },
    #[error("JT/T 808 terminal {phone} at {addr}: {reason}")]
    Terminal {
        addr: String,
        phone: String,
        reason: String,
    },
    #[error("a simulator task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("cannot write the ground truth to {path}: {source}")]
    WriteTruth {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Reads and validates a scenario file.
pub fn load_scenario(path: &std::path::Path) -> Result<ScenarioFile, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let file = ScenarioFile::from_json(&text)?;
    file.validate()?;
    Ok(file)
}

/// What the terminals did (`crate::terminal`), part of a run's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerminalReport {
    pub terminals: usize,
    /// Positions handed to the terminals (each sent until answered).
    pub positions: u64,
    /// Location reports and batches answered 0x8001 ok.
    pub answered: u64,
    /// Blind-area batches sent (after a tunnel or for a backlog).
    pub batches: u64,
    /// Connections made again (storms, and drops).
    pub reconnects: u64,
    /// Reports sent again after a reconnect.
    pub resent: u64,
}
