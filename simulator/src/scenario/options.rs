//! What a scenario run does: broker, clock, duration, devices, and the behaviours.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::behaviours::Behaviours;
use crate::mqtt::BrokerOptions;

/// How simulated time relates to wall time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clock {
    /// Simulated time is now: starts at the wall clock's now, runs at speed 1.
    RealTime,
    /// Replays from `start` (usually in the past) at `speed` simulated seconds per wall
    /// second; fix timestamps are `start` plus the simulated time elapsed.
    Replay { start: DateTime<Utc>, speed: f64 },
}

impl Clock {
    /// Simulated seconds per wall second.
    pub fn speed(&self) -> f64 {
        match self {
            Clock::RealTime => 1.0,
            Clock::Replay { speed, .. } => *speed,
        }
    }
}

/// Which of the file's devices take part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSelection {
    All,
    /// The first N of each kind, in file order.
    PerKind(u32),
    /// These ids (unknown ids are an error).
    Ids(Vec<String>),
}

/// How devices share MQTT connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// One connection per device, each with its own client id and a retained last will
    /// `{"online":false}` on its status topic, as real devices do.
    PerDevice,
    /// Devices spread over this many connections; no last wills (a will belongs to one
    /// connection), the explicit status messages still go out.
    Shared(u32),
}

/// Seconds of simulated time between two fixes of a device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixIntervals {
    pub vehicle: Duration,
    pub worker: Duration,
}

impl Default for FixIntervals {
    fn default() -> Self {
        Self {
            vehicle: Duration::from_secs(5),
            worker: Duration::from_secs(10),
        }
    }
}

/// Everything a run needs besides the scenario file.
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    pub broker: BrokerOptions,
    /// Same seed, same scenario, same options: the same messages.
    pub seed: u64,
    pub clock: Clock,
    /// Simulated time span of the run.
    pub duration: Duration,
    pub fix_interval: FixIntervals,
    pub devices: DeviceSelection,
    /// Devices with an `owntracks_id` in the file publish their ordinary fixes as OwnTracks
    /// locations on `owntracks/{user}/{device}` (SOS, backlogs, malformed messages and
    /// status stay on the contract topics).
    pub owntracks: bool,
    pub connections: Connections,
    pub behaviours: Behaviours,
    /// Write the ground truth (what was planted, `sweepwatch-truth/1` JSON lines) to
    /// this file at the end of the run.
    pub truth: Option<std::path::PathBuf>,
    /// A share of the vehicles report as JT/T 808 terminals to the service's
    /// listener instead of publishing on MQTT ([`crate::terminal`]).
    pub terminals: Option<crate::terminal::TerminalOptions>,
}

impl ScenarioRun {
    /// Defaults: seed 1, real time, one hour, every device, all behaviours on.
    pub fn new(broker: BrokerOptions) -> Self {
        Self {
            broker,
            seed: 1,
            clock: Clock::RealTime,
            duration: Duration::from_secs(3600),
            fix_interval: FixIntervals::default(),
            devices: DeviceSelection::All,
            owntracks: false,
            connections: Connections::PerDevice,
            behaviours: Behaviours::default(),
            truth: None,
            terminals: None,
        }
    }
}
