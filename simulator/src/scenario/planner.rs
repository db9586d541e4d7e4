//! The whole run as a deterministic list of messages, produced window by window.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use geofence::projection::LocalFrame;
use geofence::scenario::ScenarioFile;
use geofence::{AreaKind, DeviceKind, ZonePurpose};

use super::device::{Asg, Ctx, DeviceSim};
use super::geom::Shape;
use super::options::{Clock, DeviceSelection, ScenarioRun};
use super::payload::MAX_BACKLOG_FIXES;
use super::rng::Rng;
use super::{PlannedMessage, SimError};

/// Longest run: a week of simulated time (a month of fixes would not fit in memory as a
/// plan, and nobody replays more).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Produces a run's messages in publish order, a window of simulated time at a time.
pub struct Planner {
    ctx: Ctx,
    devices: Vec<DeviceSim>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cursor: DateTime<Utc>,
    done: bool,
}

/// Every message of the run, in publish order. With [`Clock::RealTime`] the run starts
/// now (to the second), so only a replay gives the same list twice.
pub fn plan(file: &ScenarioFile, opts: &ScenarioRun) -> Result<Vec<PlannedMessage>, SimError> {
    let mut p = Planner::new(file, opts, start_of(&opts.clock, Utc::now()))?;
    let mut all = Vec::new();
    while let Some(batch) = p.next_window(Duration::from_secs(3600)) {
        all.extend(batch);
    }
    Ok(all)
}

/// The simulated start of a run: the replay's start, or `now` to the second.
pub fn start_of(clock: &Clock, now: DateTime<Utc>) -> DateTime<Utc> {
    match clock {
        Clock::Replay { start, .. } => *start,
        Clock::RealTime => DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now),
    }
}

/// The start of the latest instance of shift `shift` that starts at or before `before`
/// (for replaying "last night's wash"). `None` if the file has no such shift or it has
/// not run in the 40 days before.
pub fn latest_shift_start(
    file: &ScenarioFile,
    shift: &str,
    before: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let scenario = file.validate().ok()?;
    let s = scenario.shifts.iter().find(|s| s.id().as_str() == shift)?;
    s.instances_overlapping(before - TimeDelta::days(40), before + TimeDelta::seconds(1))
        .into_iter()
        .filter(|i| i.start <= before)
        .map(|i| i.start)
        .max()
}

impl Planner {
    /// Validates the file and the options and sets up every selected device.
    pub fn new(
        file: &ScenarioFile,
        opts: &ScenarioRun,
        start: DateTime<Utc>,
    ) -> Result<Self, SimError> {
        check(opts)?;
        let scenario = file.validate()?;
        let duration = TimeDelta::from_std(opts.duration)
            .map_err(|e| SimError::InvalidOptions(e.to_string()))?;
        let end = start + duration;

        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for a in &scenario.areas {
            let (x, y) = match a.geometry() {
                geofence::AreaGeometry::Line(l) => {
                    l.0.first().map(|c| (c.x, c.y)).unwrap_or_default()
                }
                geofence::AreaGeometry::Polygons(mp) => {
                    mp.0.first()
                        .and_then(|p| p.exterior().0.first())
                        .map(|c| (c.x, c.y))
                        .unwrap_or_default()
                }
            };
            (sx, sy, n) = (sx + x, sy + y, n + 1.0);
        }
        let frame = if n > 0.0 {
            LocalFrame::new(sx / n, sy / n)
        } else {
            LocalFrame::new(0.0, 0.0)
        };
        let shapes: Vec<Shape> = scenario
            .areas
            .iter()
            .map(|a| Shape::of(a, &frame))
            .collect();
        let purposes: Vec<Option<ZonePurpose>> = scenario
            .areas
            .iter()
            .map(|a| match a.kind() {
                AreaKind::Zone { purpose } => Some(*purpose),
                AreaKind::Route { .. } => None,
            })
            .collect();
        let rest_zones = shapes
            .iter()
            .zip(&purposes)
            .filter(|(_, p)| **p == Some(ZonePurpose::RestZone))
            .map(|(s, _)| s.centre())
            .collect();
        let area_ix: HashMap<&str, usize> = scenario
            .areas
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id().as_str(), i))
            .collect();
        let shift_ix: HashMap<&str, usize> = scenario
            .shifts
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id().as_str(), i))
            .collect();

        let selected = select(&scenario.devices, &opts.devices)?;
        let mut devices = Vec::with_capacity(selected.len());
        for d in selected {
            let asgs = scenario
                .assignments
                .iter()
                .filter(|a| a.device.as_str() == d.id)
                .filter_map(|a| {
                    Some(Asg {
                        shift: *shift_ix.get(a.shift.as_str())?,
                        area: *area_ix.get(a.area.as_str())?,
                        from: a.valid_from,
                        to: a.valid_to,
                    })
                })
                .collect();
            let interval = if d.kind == DeviceKind::Worker {
                opts.fix_interval.worker
            } else {
                opts.fix_interval.vehicle
            };
            let mut sim = DeviceSim::new(
                &d.id,
                d.kind,
                &scenario.org.id,
                d.owntracks_id.as_deref(),
                asgs,
                interval,
                start,
                opts.seed,
            );
            sim.set_backlog_max(opts.behaviours.backlog.max_fixes);
            devices.push(sim);
        }
        let ctx = Ctx {
            frame,
            shifts: scenario.shifts,
            shapes,
            purposes,
            rest_zones,
            behaviours: opts.behaviours.clone(),
            owntracks: opts.owntracks,
        };
        let mut planner = Self {
            ctx,
            devices,
            start,
            end,
            cursor: start,
            done: false,
        };
        planner.give_roles(opts.seed, duration);
        Ok(planner)
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// Ids of the devices taking part.
    pub fn device_ids(&self) -> Vec<String> {
        self.devices.iter().map(|d| d.id.clone()).collect()
    }

    /// The messages of the next `span` of simulated time, in publish order; `None` once
    /// the run is over. The split into windows does not change the messages.
    pub fn next_window(&mut self, span: Duration) -> Option<Vec<PlannedMessage>> {
        if self.done {
            return None;
        }
        let span = TimeDelta::from_std(span)
            .unwrap_or(TimeDelta::hours(1))
            .max(TimeDelta::seconds(1));
        let until = (self.cursor + span).min(self.end);
        let mut out = Vec::new();
        for d in &mut self.devices {
            d.run_until(&self.ctx, until, &mut out);
        }
        if until >= self.end {
            for d in &mut self.devices {
                d.finish(self.end, &mut out);
            }
            self.done = true;
        }
        self.cursor = until;
        // Stable: ties keep device order, then each device's own order.
        out.sort_by_key(|m| m.at);
        Some(out)
    }

    /// Picks, by the seed, which devices show which behaviour: preferring devices on
    /// shift at the start, each device one role while there are enough of them.
    fn give_roles(&mut self, seed: u64, duration: TimeDelta) {
        let b = self.ctx.behaviours.clone();
        let start = self.start;
        let at = |d: Duration| start + TimeDelta::from_std(d).unwrap_or_default();
        let mut rng = Rng::derive(seed, "roles");
        let mut order: Vec<usize> = (0..self.devices.len()).collect();
        rng.shuffle(&mut order);
        let on_shift: Vec<bool> = self
            .devices
            .iter()
            .map(|d| d.instance_at(&self.ctx, start).is_some())
            .collect();
        let mut used = vec![false; self.devices.len()];
        let vehicle: Vec<bool> = self.devices.iter().map(|d| d.is_vehicle()).collect();
        let mut pick = |want_vehicle: Option<bool>| -> Option<usize> {
            // unused and on shift; unused; then (a small selection) any on shift
            for pass in 0..3 {
                for &i in &order {
                    let kind_ok = want_vehicle.is_none_or(|v| vehicle[i] == v);
                    let ok = match pass {
                        0 => !used[i] && on_shift[i],
                        1 => !used[i],
                        _ => on_shift[i],
                    };
                    if kind_ok && ok {
                        used[i] = true;
                        return Some(i);
                    }
                }
            }
            None
        };
        let mut roles: Vec<(usize, Role)> = Vec::new();
        if b.sos.enabled {
            roles.extend(pick(Some(false)).map(|i| (i, Role::Sos)));
        }
        if b.late_start.enabled {
            for _ in 0..b.late_start.devices {
                roles.extend(pick(Some(true)).map(|i| (i, Role::Late)));
            }
        }
        if b.idle.enabled {
            roles.extend(pick(Some(false)).map(|i| (i, Role::Idle(b.idle.worker))));
            roles.extend(pick(Some(true)).map(|i| (i, Role::Idle(b.idle.vehicle))));
        }
        if b.leave_area.enabled {
            roles.extend(pick(Some(false)).map(|i| (i, Role::Leave)));
        }
        if b.dropout.enabled {
            for _ in 0..b.dropout.devices {
                roles.extend(pick(Some(true)).map(|i| (i, Role::Dropout)));
            }
        }
        if b.backlog.enabled {
            for _ in 0..b.backlog.devices {
                roles.extend(pick(Some(true)).map(|i| (i, Role::Backlog)));
            }
        }
        if b.silent.enabled {
            for _ in 0..b.silent.devices {
                roles.extend(pick(None).map(|i| (i, Role::Silent)));
            }
        }
        for (i, role) in roles {
            let r = &mut self.devices[i].roles;
            match role {
                Role::Late => r.late_until = Some(at(b.late_start.delay)),
                Role::Idle(d) => r.idle = Some((at(b.idle.at), d.as_secs_f64())),
                Role::Leave => r.leave_at = Some(at(b.leave_area.at)),
                Role::Sos => r.sos_at = Some(at(b.sos.at)),
                Role::Dropout => {
                    r.dropout = Some((at(b.dropout.at), at(b.dropout.at + b.dropout.gap)))
                }
                Role::Backlog => {
                    r.backlog = Some((at(b.backlog.at), at(b.backlog.at + b.backlog.gap)))
                }
                Role::Silent => r.silent_from = Some(at(b.silent.at)),
            }
        }
        if b.malformed.enabled {
            // On devices that keep publishing, spread evenly over the run.
            let ok: Vec<usize> = (0..self.devices.len())
                .filter(|&i| {
                    let r = &self.devices[i].roles;
                    on_shift[i] && r.late_until.is_none() && r.silent_from.is_none()
                })
                .collect();
            let n = b.malformed.count;
            for k in 0..n {
                if ok.is_empty() {
                    break;
                }
                let i = ok[rng.below(ok.len())];
                let when = start + duration * (k as i32 + 1) / (n as i32 + 1);
                self.devices[i].roles.malformed.push((when, k as usize));
            }
        }
    }
}

enum Role {
    Late,
    Idle(Duration),
    Leave,
    Sos,
    Dropout,
    Backlog,
    Silent,
}

fn check(opts: &ScenarioRun) -> Result<(), SimError> {
    let bad = |m: &str| Err(SimError::InvalidOptions(m.to_owned()));
    if opts.duration.is_zero() || opts.duration > MAX_DURATION {
        return bad("duration must be more than 0 and at most 7 days");
    }
    if let Clock::Replay { speed, .. } = opts.clock
        && !(speed.is_finite() && speed > 0.0)
    {
        return bad("replay speed must be a positive number");
    }
    let min = Duration::from_millis(100);
    if opts.fix_interval.vehicle < min || opts.fix_interval.worker < min {
        return bad("fix intervals must be at least 100 ms");
    }
    let b = &opts.behaviours;
    if !(0.0..=1.0).contains(&b.duplicates.probability) {
        return bad("duplicate probability must be within 0..=1");
    }
    if !(b.noise.scale.is_finite() && b.noise.scale >= 0.0) {
        return bad("noise scale must be a non-negative number");
    }
    if !(1..=MAX_BACKLOG_FIXES).contains(&b.backlog.max_fixes) {
        return bad("backlog max_fixes must be within 1..=1000");
    }
    if b.breaks.enabled && b.breaks.every < Duration::from_secs(60) {
        return bad("breaks must be at least a minute apart");
    }
    Ok(())
}

fn select<'a>(
    devices: &'a [geofence::scenario::DeviceSpec],
    sel: &DeviceSelection,
) -> Result<Vec<&'a geofence::scenario::DeviceSpec>, SimError> {
    Ok(match sel {
        DeviceSelection::All => devices.iter().collect(),
        DeviceSelection::PerKind(n) => {
            let mut seen: HashMap<DeviceKind, u32> = HashMap::new();
            devices
                .iter()
                .filter(|d| {
                    let c = seen.entry(d.kind).or_default();
                    *c += 1;
                    *c <= *n
                })
                .collect()
        }
        DeviceSelection::Ids(ids) => {
            let mut out = Vec::new();
            for id in ids {
                let d = devices.iter().find(|d| &d.id == id).ok_or_else(|| {
                    SimError::InvalidOptions(format!("no device {id:?} in the scenario"))
                })?;
                out.push(d);
            }
            out
        }
    })
}
