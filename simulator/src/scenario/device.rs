//! One simulated device: when it is on shift it advances its [`Walker`] fix by fix, and
//! its roles (the behaviours the planner gave it) shape what it publishes.

use chrono::{DateTime, TimeDelta, Utc};
use geofence::projection::LocalFrame;
use geofence::{DeviceKind, Shift, ShiftInstance, ZonePurpose};

use super::geom::{P, Shape, centroid, closest_on_polyline, dist};
use super::options::Behaviours;
use super::payload::{self, FixData};
use super::program::{self, Assigned, Profile};
use super::rng::Rng;
use super::walker::{Step, Walker};
use super::{MessageKind, PlannedMessage};

/// What every device reads: the scenario's geometry and calendars, and the options.
pub struct Ctx {
    pub frame: LocalFrame,
    pub shifts: Vec<Shift>,
    pub shapes: Vec<Shape>,
    pub purposes: Vec<Option<ZonePurpose>>,
    /// Centres of the rest zones (city service stations).
    pub rest_zones: Vec<P>,
    pub behaviours: Behaviours,
    pub owntracks: bool,
}

/// An assignment, resolved to indices into [`Ctx`].
#[derive(Debug, Clone)]
pub struct Asg {
    pub shift: usize,
    pub area: usize,
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
}

/// The behaviours this device shows, at simulated instants.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    pub late_until: Option<DateTime<Utc>>,
    pub silent_from: Option<DateTime<Utc>>,
    pub dropout: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub backlog: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub sos_at: Option<DateTime<Utc>>,
    /// When, and for how long (seconds).
    pub idle: Option<(DateTime<Utc>, f64)>,
    pub leave_at: Option<DateTime<Utc>>,
    /// Malformed messages: when, and which variant; sorted by time.
    pub malformed: Vec<(DateTime<Utc>, usize)>,
}

pub struct DeviceSim {
    pub id: String,
    kind: DeviceKind,
    topic: String,
    ot: Option<(String, String)>,
    interval: TimeDelta,
    next_tick: DateTime<Utc>,
    last_tick: Option<DateTime<Utc>>,
    rng: Rng,
    asgs: Vec<Asg>,
    /// The shift instance it is working in, and its walker.
    on: Option<(ShiftInstance, Walker, Option<Vec<P>>)>,
    /// When to look at the calendar again while off shift.
    recheck: DateTime<Utc>,
    prof: Profile,
    seq: u64,
    batt0: f64,
    pub roles: Roles,
    next_break: Option<DateTime<Utc>>,
    buffer: Vec<String>,
    announced: bool,
    backlog_max: usize,
}

/// Off shift, a device looks at its calendar this often.
const RECHECK: TimeDelta = TimeDelta::seconds(30);

impl DeviceSim {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: &str,
        kind: DeviceKind,
        org: &str,
        owntracks_id: Option<&str>,
        asgs: Vec<Asg>,
        interval: std::time::Duration,
        start: DateTime<Utc>,
        seed: u64,
    ) -> Self {
        let mut rng = Rng::derive(seed, id);
        let interval = TimeDelta::from_std(interval)
            .unwrap_or(TimeDelta::seconds(5))
            .max(TimeDelta::milliseconds(100));
        let phase = TimeDelta::milliseconds(rng.below(interval.num_milliseconds() as usize) as i64);
        let prof = Profile::pick(kind, &mut rng);
        let ot = owntracks_id.and_then(|o| {
            let (user, dev) = o.split_once('/')?;
            let tid: String = user
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .rev()
                .take(2)
                .collect();
            Some((format!("owntracks/{user}/{dev}"), tid.to_uppercase()))
        });
        Self {
            id: id.to_owned(),
            kind,
            topic: format!("sweepwatch/v1/{org}/{id}"),
            ot,
            interval,
            next_tick: start + phase,
            last_tick: None,
            batt0: rng.range(60.0, 100.0),
            rng,
            asgs,
            on: None,
            recheck: start,
            prof,
            seq: 0,
            roles: Roles::default(),
            next_break: None,
            buffer: Vec::new(),
            announced: false,
            backlog_max: 1000,
        }
    }

    /// Fixes per backlog message at most.
    pub fn set_backlog_max(&mut self, n: usize) {
        self.backlog_max = n;
    }

    pub fn is_vehicle(&self) -> bool {
        self.kind != DeviceKind::Worker
    }

    pub fn status_topic(&self) -> String {
        format!("{}/status", self.topic)
    }

    /// The shift instance (and its assignments' shift) active at `t`, if any.
    pub fn instance_at(&self, ctx: &Ctx, t: DateTime<Utc>) -> Option<(usize, ShiftInstance)> {
        self.asgs
            .iter()
            .filter(|a| a.from <= t && a.to.is_none_or(|to| t < to))
            .find_map(|a| ctx.shifts[a.shift].instance_at(t).map(|i| (a.shift, i)))
    }

    /// Everything this device publishes at instants in `[.., until)`.
    pub fn run_until(&mut self, ctx: &Ctx, until: DateTime<Utc>, out: &mut Vec<PlannedMessage>) {
        while self.next_tick < until {
            let t = self.next_tick;
            self.tick(ctx, t, out);
            self.next_tick = t + self.interval;
        }
    }

    /// The end of the run: flush any backlog and go offline.
    pub fn finish(&mut self, end: DateTime<Utc>, out: &mut Vec<PlannedMessage>) {
        self.flush(end, out);
        if self.announced {
            self.push(
                out,
                end,
                self.status_topic(),
                payload::status_json(false).into_bytes(),
                true,
                MessageKind::Status,
            );
        }
    }

    fn push(
        &self,
        out: &mut Vec<PlannedMessage>,
        at: DateTime<Utc>,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
        kind: MessageKind,
    ) {
        out.push(PlannedMessage {
            at,
            device: self.id.clone(),
            topic,
            payload,
            retain,
            kind,
        });
    }

    fn tick(&mut self, ctx: &Ctx, t: DateTime<Utc>, out: &mut Vec<PlannedMessage>) {
        if self.roles.late_until.is_some_and(|l| t < l) {
            return;
        }
        if self.roles.silent_from.is_some_and(|s| t >= s) {
            return;
        }
        if !self.announced {
            self.announced = true;
            self.push(
                out,
                t,
                self.status_topic(),
                payload::status_json(true).into_bytes(),
                true,
                MessageKind::Status,
            );
        }
        let Some(motion) = self.advance(ctx, t) else {
            return;
        };
        let (x, y) = {
            let sigma = if ctx.behaviours.noise.enabled {
                self.prof.acc_m * ctx.behaviours.noise.scale
            } else {
                0.0
            };
            (
                motion.pos[0] + sigma * self.rng.gauss(),
                motion.pos[1] + sigma * self.rng.gauss(),
            )
        };
        let acc = if ctx.behaviours.noise.enabled {
            self.prof.acc_m * self.rng.range(0.7, 1.5)
        } else {
            self.prof.acc_m
        };
        let kmh = if motion.kmh > 0.0 {
            motion.kmh * self.rng.range(0.92, 1.08)
        } else {
            0.0
        };
        if self.roles.dropout.is_some_and(|(a, b)| a <= t && t < b) {
            return;
        }
        let (lon, lat) = ctx.frame.unproject([x, y]);
        let sos = self.roles.sos_at.is_some_and(|s| s <= t);
        if sos {
            self.roles.sos_at = None;
        }
        self.seq += 1;
        let on_since = self.on.as_ref().map_or(t, |o| o.0.start);
        let hours = (t - on_since).as_seconds_f64() / 3600.0;
        let fix = FixData {
            ts: t,
            lat,
            lon,
            kmh,
            heading: motion.heading,
            acc,
            work: motion.work,
            sos,
            batt: (self.batt0 - 3.0 * hours).clamp(5.0, 100.0) as u32,
            seq: self.seq,
        };
        let json = payload::fix_json(&fix);
        if self.roles.backlog.is_some_and(|(a, b)| a <= t && t < b) {
            self.buffer.push(json);
            return;
        }
        self.flush(t, out);
        let (topic, bytes, kind) = match (&self.ot, ctx.owntracks && !sos) {
            (Some((topic, tid)), true) => (
                topic.clone(),
                payload::owntracks_json(&fix, tid),
                MessageKind::OwnTracks,
            ),
            _ => (
                format!("{}/fix", self.topic),
                json,
                if sos {
                    MessageKind::Sos
                } else {
                    MessageKind::Fix
                },
            ),
        };
        let dup = ctx.behaviours.duplicates.enabled
            && self.rng.chance(ctx.behaviours.duplicates.probability);
        self.push(
            out,
            t,
            topic.clone(),
            bytes.clone().into_bytes(),
            false,
            kind,
        );
        if dup {
            self.push(
                out,
                t,
                topic,
                bytes.into_bytes(),
                false,
                MessageKind::Duplicate,
            );
        }
        while let Some(&(at, variant)) = self.roles.malformed.first() {
            if at > t {
                break;
            }
            self.roles.malformed.remove(0);
            self.push(
                out,
                t,
                format!("{}/fix", self.topic),
                payload::malformed(variant, &fix),
                false,
                MessageKind::Malformed,
            );
        }
    }

    fn advance(&mut self, ctx: &Ctx, t: DateTime<Utc>) -> Option<super::walker::Motion> {
        if !self.on.as_ref().is_some_and(|(inst, ..)| inst.contains(t)) {
            self.on = None;
            if t < self.recheck {
                return None;
            }
            let Some((shift, inst)) = self.instance_at(ctx, t) else {
                self.recheck = t + RECHECK;
                return None;
            };
            return Some(self.start_shift(ctx, t, shift, inst));
        }
        let b = &ctx.behaviours;
        let walk_kmh = 4.5;
        let due = |at: Option<DateTime<Utc>>| at.is_some_and(|a| a <= t);
        let (walker, home) = match self.on.as_mut() {
            Some((_, w, h)) => (w, h),
            None => return None,
        };
        if let Some((at, secs)) = self.roles.idle
            && at <= t
        {
            walker.detour([Step::Dwell { secs, work: false }]);
            self.roles.idle = None;
        }
        if due(self.roles.leave_at) {
            self.roles.leave_at = None;
            if let Some(ring) = home.as_ref() {
                let here = walker.pos();
                let target = outside(ring, here, b.leave_area.distance_m);
                walker.detour([
                    Step::Move {
                        to: target,
                        kmh: walk_kmh,
                        work: true,
                    },
                    Step::Dwell {
                        secs: b.leave_area.duration.as_secs_f64(),
                        work: true,
                    },
                    Step::Move {
                        to: here,
                        kmh: walk_kmh,
                        work: true,
                    },
                ]);
            }
        }
        if due(self.next_break) {
            let here = walker.pos();
            let every = TimeDelta::from_std(b.breaks.every)
                .unwrap_or(TimeDelta::hours(2))
                .max(TimeDelta::minutes(1));
            self.next_break = self.next_break.map(|n| n + every);
            let nearest = ctx
                .rest_zones
                .iter()
                .copied()
                .min_by(|a, b| dist(*a, here).total_cmp(&dist(*b, here)));
            if let Some(rest) = nearest {
                let k = self.prof.transit_kmh;
                walker.detour([
                    Step::Move {
                        to: rest,
                        kmh: k,
                        work: false,
                    },
                    Step::Dwell {
                        secs: b.breaks.duration.as_secs_f64(),
                        work: false,
                    },
                    Step::Move {
                        to: here,
                        kmh: k,
                        work: false,
                    },
                ]);
            }
        }
        let dt = self.last_tick.map_or(0.0, |l| (t - l).as_seconds_f64());
        self.last_tick = Some(t);
        Some(walker.advance(dt))
    }

    /// Comes on shift at `t`: builds the program from the shift's assignments and moves
    /// on to where the device would be by now.
    fn start_shift(
        &mut self,
        ctx: &Ctx,
        t: DateTime<Utc>,
        shift: usize,
        inst: ShiftInstance,
    ) -> super::walker::Motion {
        let areas: Vec<Assigned<'_>> = self
            .asgs
            .iter()
            .filter(|a| a.shift == shift && a.from <= t && a.to.is_none_or(|to| t < to))
            .map(|a| Assigned {
                shape: &ctx.shapes[a.area],
                purpose: ctx.purposes[a.area],
            })
            .collect();
        let (start, steps) = program::build(self.kind, &areas, self.prof, &mut self.rng);
        let home = areas
            .iter()
            .find(|a| {
                matches!(a.shape, Shape::Ring(_)) && a.purpose != Some(ZonePurpose::TransferStation)
            })
            .or(areas.first())
            .map(|a| a.shape.points().to_vec());
        let mut walker = Walker::new(start, steps);
        let from = self
            .roles
            .late_until
            .map_or(inst.start, |l| l.max(inst.start))
            .min(t);
        let motion = walker.advance((t - from).as_seconds_f64());
        let b = &ctx.behaviours.breaks;
        self.next_break = None;
        if b.enabled && self.kind == DeviceKind::Worker && !ctx.rest_zones.is_empty() {
            let every = TimeDelta::from_std(b.every)
                .unwrap_or(TimeDelta::hours(2))
                .max(TimeDelta::minutes(1));
            let mut next = inst.start
                + TimeDelta::milliseconds(
                    (every.num_milliseconds() as f64 * self.rng.unit()) as i64,
                );
            while next < t {
                next += every;
            }
            self.next_break = Some(next);
        }
        self.on = Some((inst, walker, home));
        self.last_tick = Some(t);
        motion
    }

    fn flush(&mut self, t: DateTime<Utc>, out: &mut Vec<PlannedMessage>) {
        if self.buffer.is_empty() {
            return;
        }
        let buffered = std::mem::take(&mut self.buffer);
        for chunk in payload::backlog_chunks(&buffered, self.backlog_max) {
            self.push(
                out,
                t,
                format!("{}/fixes", self.topic),
                chunk.into_bytes(),
                false,
                MessageKind::Backlog,
            );
        }
    }
}

/// A point `distance_m` outside the boundary of `ring`, beyond the boundary point
/// nearest to `here`.
fn outside(ring: &[P], here: P, distance_m: f64) -> P {
    let mut closed = ring.to_vec();
    if let Some(f) = ring.first() {
        closed.push(*f);
    }
    let (_, edge) = closest_on_polyline(&closed, here);
    let c = centroid(ring);
    let d = dist(c, edge).max(1e-6);
    [
        edge[0] + (edge[0] - c[0]) / d * distance_m,
        edge[1] + (edge[1] - c[1]) / d * distance_m,
    ]
}
