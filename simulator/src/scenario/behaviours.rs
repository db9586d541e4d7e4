//! The behaviours of a run: each with a switch and its knobs (see `simulator/README.md`
//! and docs/QUALITY.md for what they plant).

use std::time::Duration;

/// Every behaviour, each with a switch and its knobs. Times (`at`) count from the start
/// of the run in simulated time; the devices that show a behaviour are picked by the
/// seed among those on shift at the start.
///
/// Troubles (each raises exactly one alert case): `silent`, `sos`, `idle`,
/// `leave_area`, `late_start`, `take_away`, `off_route`, `speeding`, `off_shift`,
/// `skip_route`. Non-troubles (each must raise nothing): `dropout`, `backlog`,
/// `breaks`, `transfer_trips`, `traffic_jam`, `edge`, and the transit between
/// routes that every vehicle does. `noise`, `duplicates` and `malformed` shape the
/// messages. Every planted condition goes into the run's ground truth.
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
    pub transfer_trips: TransferTrips,
    pub take_away: TakeAway,
    pub off_route: OffRoute,
    pub speeding: Speeding,
    pub off_shift: OffShift,
    pub skip_route: SkipRoute,
    pub traffic_jam: TrafficJam,
    pub edge: Edge,
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
        b.transfer_trips.enabled = false;
        b.take_away.enabled = false;
        b.off_route.enabled = false;
        b.speeding.enabled = false;
        b.off_shift.enabled = false;
        b.skip_route.enabled = false;
        b.traffic_jam.enabled = false;
        b.edge.enabled = false;
        b
    }

    /// Only the behaviour named (see [`Behaviours::NAMES`]) on, with its defaults;
    /// `None` for an unknown name.
    pub fn only(name: &str) -> Option<Self> {
        let mut b = Self::none();
        b.set(name, true).then_some(b)
    }

    /// The switchable behaviours by name.
    pub const NAMES: [&'static str; 19] = [
        "noise",
        "dropout",
        "silent",
        "backlog",
        "duplicates",
        "malformed",
        "sos",
        "idle",
        "leave_area",
        "late_start",
        "breaks",
        "transfer_trips",
        "take_away",
        "off_route",
        "speeding",
        "off_shift",
        "skip_route",
        "traffic_jam",
        "edge",
    ];

    /// Switches the behaviour named on or off; false for an unknown name.
    pub fn set(&mut self, name: &str, on: bool) -> bool {
        let flag = match name {
            "noise" => &mut self.noise.enabled,
            "dropout" => &mut self.dropout.enabled,
            "silent" => &mut self.silent.enabled,
            "backlog" => &mut self.backlog.enabled,
            "duplicates" => &mut self.duplicates.enabled,
            "malformed" => &mut self.malformed.enabled,
            "sos" => &mut self.sos.enabled,
            "idle" => &mut self.idle.enabled,
            "leave_area" => &mut self.leave_area.enabled,
            "late_start" => &mut self.late_start.enabled,
            "breaks" => &mut self.breaks.enabled,
            "transfer_trips" => &mut self.transfer_trips.enabled,
            "take_away" => &mut self.take_away.enabled,
            "off_route" => &mut self.off_route.enabled,
            "speeding" => &mut self.speeding.enabled,
            "off_shift" => &mut self.off_shift.enabled,
            "skip_route" => &mut self.skip_route.enabled,
            "traffic_jam" => &mut self.traffic_jam.enabled,
            "edge" => &mut self.edge.enabled,
            _ => return false,
        };
        *flag = on;
        true
    }
}

impl Default for Behaviours {
    #[expect(
        clippy::too_many_lines,
        reason = "the default of every behaviour, one field after another with its reason: a table, not logic"
    )]
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
                distance_m: 100.0,
            },
            late_start: LateStart {
                enabled: true,
                devices: 1,
                delay: min(20),
                depot_m: 1500.0,
                dark: false,
            },
            breaks: Breaks {
                enabled: true,
                every: min(120),
                duration: min(15),
            },
            transfer_trips: TransferTrips {
                enabled: true,
                queue: min(6),
                unload: min(4),
            },
            take_away: TakeAway {
                enabled: true,
                at: min(6),
                distance_m: 1000.0,
                duration: min(8),
            },
            off_route: OffRoute {
                enabled: true,
                at: min(3),
                duration: min(4),
                length_m: 120.0,
            },
            speeding: Speeding {
                enabled: true,
                at: min(7),
                duration: min(3),
                factor: 1.4,
            },
            off_shift: OffShift {
                enabled: true,
                at: min(2),
                duration: min(10),
            },
            skip_route: SkipRoute {
                enabled: true,
                devices: 1,
            },
            traffic_jam: TrafficJam {
                enabled: true,
                at: min(8),
                duration: min(6),
            },
            edge: Edge {
                enabled: true,
                at: min(3),
                duration: min(10),
                inside_m: 4.0,
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

/// From `at`, one worker walks `distance_m` out of its beat (at an exit where the way
/// out leads to no rest zone, so it is not a break trip), stays `duration`, walks
/// back: `off_area`.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaveArea {
    pub enabled: bool,
    pub at: Duration,
    pub duration: Duration,
    pub distance_m: f64,
}

/// `devices` vehicles arrive in their area `delay` after their shift starts: they
/// report from the start, first manoeuvring in a yard `depot_m` away, then driving
/// in: `late_start`. With `dark`, they report nothing at all (not even their status)
/// until they arrive, as a terminal powered with the ignition does: the same trouble.
#[derive(Debug, Clone, PartialEq)]
pub struct LateStart {
    pub enabled: bool,
    pub devices: u32,
    pub delay: Duration,
    pub depot_m: f64,
    pub dark: bool,
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

/// Collectors with transfer stations, after each route, drive to one of them (in
/// turn), queue there `queue` with the compactor off, unload `unload` with it on, and
/// drive on to their next route. A non-trouble.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferTrips {
    pub enabled: bool,
    pub queue: Duration,
    pub unload: Duration,
}

/// From `at`, a driver takes one vehicle away: straight out of its working area (in
/// a direction where no way between its areas lies) to `distance_m` beyond it, drives
/// around there for `duration`, not working, and comes back: `off_area`.
#[derive(Debug, Clone, PartialEq)]
pub struct TakeAway {
    pub enabled: bool,
    pub at: Duration,
    pub distance_m: f64,
    pub duration: Duration,
}

/// From `at`, one sweeper or washer works a street that is not assigned to it, beside
/// its route (from 40 m to 40 m + `length_m` out, back and forth) for `duration`:
/// `work_off_route` (near enough not to be `off_area`).
#[derive(Debug, Clone, PartialEq)]
pub struct OffRoute {
    pub enabled: bool,
    pub at: Duration,
    pub duration: Duration,
    pub length_m: f64,
}

/// From `at`, one vehicle works its route at `factor` times its kind's top working
/// speed for `duration`: `speeding_at_work`.
#[derive(Debug, Clone, PartialEq)]
pub struct Speeding {
    pub enabled: bool,
    pub at: Duration,
    pub duration: Duration,
    pub factor: f64,
}

/// From `at`, one vehicle that has no shift then works its routes for `duration`:
/// `off_shift_work`.
#[derive(Debug, Clone, PartialEq)]
pub struct OffShift {
    pub enabled: bool,
    pub at: Duration,
    pub duration: Duration,
}

/// `devices` sweepers (or washers) with several routes leave one of them unswept for
/// their whole shift instance: `coverage_at_risk` for that route (raised only if the
/// run reaches the instance's last hour).
#[derive(Debug, Clone, PartialEq)]
pub struct SkipRoute {
    pub enabled: bool,
    pub devices: u32,
}

/// From `at`, one vehicle stops in traffic, not working, for `duration` (shorter
/// than the idle threshold). A non-trouble.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficJam {
    pub enabled: bool,
    pub at: Duration,
    pub duration: Duration,
}

/// From `at`, for `duration`, one vehicle works along the edge of its route's
/// corridor and one worker walks along the edge of her beat, `inside_m` inside the
/// rule's margin, so GPS noise puts some fixes outside. A non-trouble.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub enabled: bool,
    pub at: Duration,
    pub duration: Duration,
    pub inside_m: f64,
}
