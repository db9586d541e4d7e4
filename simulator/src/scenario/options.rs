//! What a scenario run does: broker, clock, duration, devices, and the behaviours.

use std::time::Duration;

use chrono::{DateTime, Utc};

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
        }
    }
}

/// Every behaviour, each with a switch and its knobs. Times (`at`) count from the start
/// of the run in simulated time; the devices that show a behaviour are picked by the
/// seed among those on shift at the start.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviours {
    pub noise: Noise,
    pub dropout: Dropout,
    pub silent: Silent,
    pub backlog: Backlog,
    pub duplicates: Duplicates,
    pub malformed: Malformed,
    pub sos: Sos,
    pub idle: Idle,
    pub leave_area: LeaveArea,
    pub late_start: LateStart,
    pub breaks: Breaks,
}

impl Behaviours {
    /// Every behaviour off: clean tracks, exactly on schedule.
    pub fn none() -> Self {
        let mut b = Self::default();
        b.noise.enabled = false;
        b.dropout.enabled = false;
        b.silent.enabled = false;
        b.backlog.enabled = false;
        b.duplicates.enabled = false;
        b.malformed.enabled = false;
        b.sos.enabled = false;
        b.idle.enabled = false;
        b.leave_area.enabled = false;
        b.late_start.enabled = false;
        b.breaks.enabled = false;
        b
    }
}

impl Default for Behaviours {
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(m * 60);
        Self {
            noise: Noise {
                enabled: true,
                scale: 0.5,
            },
            dropout: Dropout {
                enabled: true,
                devices: 1,
                at: min(3),
                gap: min(4),
            },
            silent: Silent {
                enabled: true,
                devices: 1,
                at: min(5),
            },
            backlog: Backlog {
                enabled: true,
                devices: 1,
                at: min(2),
                gap: min(5),
                max_fixes: 200,
            },
            duplicates: Duplicates {
                enabled: true,
                probability: 0.01,
            },
            malformed: Malformed {
                enabled: true,
                count: 3,
            },
            sos: Sos {
                enabled: true,
                at: min(4),
            },
            idle: Idle {
                enabled: true,
                at: min(1),
                worker: min(25),
                vehicle: min(12),
            },
            leave_area: LeaveArea {
                enabled: true,
                at: min(2),
                duration: min(5),
                distance_m: 60.0,
            },
            late_start: LateStart {
                enabled: true,
                devices: 1,
                delay: min(20),
            },
            breaks: Breaks {
                enabled: true,
                every: min(120),
                duration: min(15),
            },
        }
    }
}

/// GPS noise: each fix reports an accuracy `acc` (by kind, varying) and is displaced by
/// a normal error of σ = `acc × scale` metres in each axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Noise {
    pub enabled: bool,
    pub scale: f64,
}

/// A tunnel: `devices` vehicles get no fix for `gap` from `at`, then carry on (nothing
/// is buffered).
#[derive(Debug, Clone, PartialEq)]
pub struct Dropout {
    pub enabled: bool,
    pub devices: u32,
    pub at: Duration,
    pub gap: Duration,
}

/// `devices` devices stop publishing at `at` for the rest of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Silent {
    pub enabled: bool,
    pub devices: u32,
    pub at: Duration,
}

/// Store and forward: `devices` vehicles lose the broker from `at` for `gap`, keep
/// recording, then publish what they stored on `.../fixes`, newest first, at most
/// `max_fixes` (≤ 1000) per message and under 64 KiB.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub enabled: bool,
    pub devices: u32,
    pub at: Duration,
    pub gap: Duration,
    pub max_fixes: usize,
}

/// Each fix is published a second time with this probability (same bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Duplicates {
    pub enabled: bool,
    pub probability: f64,
}

/// `count` malformed messages (cut-off JSON, out-of-range values, missing `ts`, not JSON,
/// wrong types), spread evenly over the run, on the fix topics of devices on shift.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    pub enabled: bool,
    pub count: u32,
}

/// One worker presses SOS once, at `at` (a single fix with `sos:true`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sos {
    pub enabled: bool,
    pub at: Duration,
}

/// From `at`, one worker stands still for `worker` and one vehicle for `vehicle`, not
/// working, where they are (outside any rest zone).
#[derive(Debug, Clone, PartialEq)]
pub struct Idle {
    pub enabled: bool,
    pub at: Duration,
    pub worker: Duration,
    pub vehicle: Duration,
}

/// From `at`, one worker walks `distance_m` out of its beat, stays `duration`, walks back.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaveArea {
    pub enabled: bool,
    pub at: Duration,
    pub duration: Duration,
    pub distance_m: f64,
}

/// `devices` vehicles start `delay` after the run starts (nothing, not even their
/// status, before that).
#[derive(Debug, Clone, PartialEq)]
pub struct LateStart {
    pub enabled: bool,
    pub devices: u32,
    pub delay: Duration,
}

/// Workers walk to the nearest city service station (rest zone) every `every` on shift
/// (first one at a random point of the first interval), rest `duration` there off duty,
/// and walk back.
#[derive(Debug, Clone, PartialEq)]
pub struct Breaks {
    pub enabled: bool,
    pub every: Duration,
    pub duration: Duration,
}
