//! The whole run as a deterministic list of messages, produced window by window.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use geofence::geodesy::LocalFrame;
use geofence::scenario::ScenarioFile;
use geofence::{AreaKind, DeviceKey, DeviceKind, ZonePurpose};

use super::device::{Asg, Ctx, DeviceSim};
use super::geom::Shape;
use super::options::{Clock, DeviceSelection, ScenarioRun};
use super::payload::MAX_BACKLOG_FIXES;
use super::{Plan, PlannedMessage, SimError};
use crate::quality::{FORMAT, FixIntervalSecs, RunDevice, RunInfo, Truth};

/// Longest run: a week of simulated time (a month of fixes would not fit in memory as a
/// plan, and nobody replays more).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Produces a run's messages in publish order, a window of simulated time at a time.
pub struct Planner {
    pub(super) ctx: Ctx,
    pub(super) devices: Vec<DeviceSim>,
    pub(super) start: DateTime<Utc>,
    end: DateTime<Utc>,
    cursor: DateTime<Utc>,
    done: bool,
    /// The truth's first line.
    run: RunInfo,
    rules: geofence::RuleConfig,
    /// (route, shift) of every route in scope, by index.
    route_shifts: Vec<(usize, usize)>,
}

/// Every message of the run, in publish order, and what it planted. With
/// [`Clock::RealTime`] the run starts now (to the second), so only a replay gives the
/// same plan twice.
pub fn plan(file: &ScenarioFile, opts: &ScenarioRun) -> Result<Plan, SimError> {
    let mut p = Planner::new(file, opts, start_of(&opts.clock, Utc::now()))?;
    let mut messages = Vec::new();
    while let Some(batch) = p.next_window(Duration::from_secs(3600)) {
        messages.extend(batch);
    }
    Ok(Plan {
        messages,
        truth: p.truth(),
    })
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
    #[expect(
        clippy::too_many_lines,
        reason = "validation of the file and options then the set-up of every device, in the order a seed replays; split, the checks would lose the context they report"
    )]
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
        let rest_ix = purposes
            .iter()
            .enumerate()
            .filter(|(_, p)| **p == Some(ZonePurpose::RestZone))
            .map(|(i, _)| i)
            .collect();
        let widths = scenario
            .areas
            .iter()
            .map(|a| match a.kind() {
                AreaKind::Route { half_width_m, .. } => *half_width_m,
                AreaKind::Zone { .. } => 0.0,
            })
            .collect();
        let ids: Vec<String> = scenario
            .areas
            .iter()
            .map(|a| a.id().as_str().to_owned())
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
        let rules = scenario.rules.clone();
        let mut devices = Vec::with_capacity(selected.len());
        let mut routes: Vec<String> = Vec::new();
        let mut route_shifts: Vec<(usize, usize)> = Vec::new();
        for d in selected {
            let Ok(key) = DeviceKey::new(d.id.clone()) else {
                continue;
            };
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
            for a in scenario.assignments.iter().filter(|a| a.device == key) {
                let sweeps = rules.resolve(d.kind, Some(&a.area), &key).sweeps_routes;
                let is_route = area_ix
                    .get(a.area.as_str())
                    .is_some_and(|&i| matches!(shapes[i], Shape::Line(_)));
                if sweeps && is_route && !routes.iter().any(|r| r == a.area.as_str()) {
                    routes.push(a.area.as_str().to_owned());
                }
                if let (true, true, Some(&r), Some(&s)) = (
                    sweeps,
                    is_route,
                    area_ix.get(a.area.as_str()),
                    shift_ix.get(a.shift.as_str()),
                ) && !route_shifts.contains(&(r, s))
                {
                    route_shifts.push((r, s));
                }
            }
            let params = rules.resolve(d.kind, None, &key);
            let mut sim = DeviceSim::new(
                &d.id,
                d.kind,
                &scenario.org.id,
                d.owntracks_id.as_deref(),
                asgs,
                interval,
                start,
                opts.seed,
                params,
            );
            sim.set_backlog_max(opts.behaviours.backlog.max_fixes);
            devices.push(sim);
        }
        routes.sort();
        let run = RunInfo {
            format: FORMAT.to_owned(),
            org: scenario.org.id.clone(),
            start,
            end,
            seed: opts.seed,
            fix_interval_s: FixIntervalSecs {
                vehicle: opts.fix_interval.vehicle.as_secs_f64(),
                worker: opts.fix_interval.worker.as_secs_f64(),
            },
            devices: devices
                .iter()
                .map(|d| RunDevice {
                    id: d.id.clone(),
                    kind: d.kind(),
                })
                .collect(),
            routes,
            rules: rules.clone(),
        };
        let ctx = Ctx {
            frame,
            shifts: scenario.shifts,
            shapes,
            purposes,
            ids,
            widths,
            rest_ix,
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
            run,
            rules,
            route_shifts,
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

    /// What the run planted so far: everything, once the last window is out (or
    /// after [`Planner::close`]).
    pub fn truth(&self) -> Truth {
        super::assemble::truth(
            &self.run,
            &self.devices,
            &self.ctx,
            &self.rules,
            &self.route_shifts,
        )
    }

    /// Whether the last window is out.
    pub fn finished(&self) -> bool {
        self.done
    }

    /// Ends the run early (a cancelled publish): conditions still under way end at
    /// `at` in the truth, which then spans the run up to `at`.
    pub fn close(&mut self, at: DateTime<Utc>) {
        for d in &mut self.devices {
            d.obs.finish(&d.params);
        }
        self.run.end = at.min(self.end);
        self.done = true;
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
