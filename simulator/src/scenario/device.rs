//! One simulated device: when it is on shift it advances its [`Walker`] fix by fix, and
//! its roles (the behaviours the planner gave it) shape what it does and publishes.
//! What it does is observed into the ground truth (see `observe`).

use chrono::{DateTime, TimeDelta, Utc};
use geofence::projection::LocalFrame;
use geofence::{AlertKind, DeviceKind, RuleParams, Shift, ShiftInstance, ZonePurpose};

use super::geom::{P, Shape};
use super::observe::{Cond, Observer, instance_ref};
use super::options::Behaviours;
use super::payload::{self, FixData};
use super::program::{self, Assigned, Profile};
use super::reach::{Geom, WorkingArea};
use super::rng::Rng;
use super::swept::{self, Pass, WorkFix};
use super::walker::{Motion, Tag, Walker};
use super::{MessageKind, PlannedMessage};
use crate::quality::Planted;

/// What every device reads: the scenario's geometry and calendars, and the options.
pub struct Ctx {
    pub frame: LocalFrame,
    pub shifts: Vec<Shift>,
    pub shapes: Vec<Shape>,
    pub purposes: Vec<Option<ZonePurpose>>,
    /// Area ids, by index.
    pub ids: Vec<String>,
    /// Route corridor half-widths, by area index (0 for zones).
    pub widths: Vec<f64>,
    /// Indices of the rest zones (city service stations).
    pub rest_ix: Vec<usize>,
    pub behaviours: Behaviours,
    pub owntracks: bool,
}

impl Ctx {
    pub fn geom(&self, area: usize) -> Geom {
        Geom::of(&self.shapes[area], self.widths[area])
    }
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
    /// Arrives this long after its shift instance starts.
    pub late: Option<TimeDelta>,
    pub silent_from: Option<DateTime<Utc>>,
    pub dropout: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub backlog: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub sos_at: Option<DateTime<Utc>>,
    /// When, and for how long (seconds).
    pub idle: Option<(DateTime<Utc>, f64)>,
    pub leave_at: Option<DateTime<Utc>>,
    pub take_away_at: Option<DateTime<Utc>>,
    pub off_route_at: Option<DateTime<Utc>>,
    pub speeding_at: Option<DateTime<Utc>>,
    /// Works off shift over this span.
    pub off_shift: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Leaves one route of each shift instance unswept.
    pub skip_route: bool,
    pub jam_at: Option<DateTime<Utc>>,
    pub edge_at: Option<DateTime<Utc>>,
    /// Malformed messages: when, and which variant; sorted by time.
    pub malformed: Vec<(DateTime<Utc>, usize)>,
}

/// A device in a shift instance.
pub(super) struct OnShift {
    pub inst: ShiftInstance,
    pub walker: Walker,
    /// The ring of its beat (or first zone), for walking out of it or along it.
    pub home: Option<Vec<P>>,
    pub wa: WorkingArea,
    /// Area indices of its routes in this instance.
    pub routes: Vec<usize>,
    /// Still to arrive (a late start): the truth so far.
    pub late: Option<Planted>,
}

pub struct DeviceSim {
    pub id: String,
    pub(super) kind: DeviceKind,
    topic: String,
    ot: Option<(String, String)>,
    pub(super) interval: TimeDelta,
    next_tick: DateTime<Utc>,
    pub(super) last_tick: Option<DateTime<Utc>>,
    pub(super) rng: Rng,
    asgs: Vec<Asg>,
    pub(super) on: Option<OnShift>,
    /// Working off shift (the `off_shift` role).
    pub(super) moonlight: Option<Walker>,
    /// When to look at the calendar again while off shift.
    recheck: DateTime<Utc>,
    pub(super) prof: Profile,
    pub(super) params: RuleParams,
    seq: u64,
    batt0: f64,
    pub roles: Roles,
    pub(super) next_break: Option<DateTime<Utc>>,
    /// Working along the edge of its corridor until then (vehicles).
    pub(super) edge_until: Option<DateTime<Utc>>,
    buffer: Vec<String>,
    buffered_since: Option<DateTime<Utc>>,
    announced: bool,
    backlog_max: usize,
    last_published: Option<DateTime<Utc>>,
    silence_noted: bool,
    pub obs: Observer,
    /// What its published working fixes swept (see `swept`).
    pub passes: Vec<Pass>,
    last_work: Option<WorkFix>,
    /// Routes it left unswept (the `skip_route` role), by instance.
    pub skipped: Vec<(usize, ShiftInstance)>,
}

/// The non-trouble a program or detour step is part of.
fn tag_cond(ctx: &Ctx, tag: Tag) -> Cond {
    let id = |i: u32| ctx.ids.get(i as usize).cloned().unwrap_or_default();
    match tag {
        Tag::TransferTrip(i) => Cond::non_trouble("transfer_trip", id(i)),
        Tag::Break(i) => Cond::non_trouble("break", id(i)),
        Tag::TrafficJam => Cond::non_trouble("traffic_jam", "stopped, not working"),
        _ => Cond::non_trouble("edge", "along the beat's edge"),
    }
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
        params: RuleParams,
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
            moonlight: None,
            recheck: start,
            prof,
            params,
            seq: 0,
            roles: Roles::default(),
            next_break: None,
            edge_until: None,
            buffer: Vec::new(),
            buffered_since: None,
            announced: false,
            backlog_max: 1000,
            last_published: None,
            silence_noted: false,
            obs: Observer::new(id),
            passes: Vec::new(),
            last_work: None,
            skipped: Vec::new(),
        }
    }

    /// Fixes per backlog message at most.
    pub fn set_backlog_max(&mut self, n: usize) {
        self.backlog_max = n;
    }

    pub fn is_vehicle(&self) -> bool {
        self.kind != DeviceKind::Worker
    }

    pub fn kind(&self) -> DeviceKind {
        self.kind
    }

    pub fn status_topic(&self) -> String {
        format!("{}/status", self.topic)
    }

    /// The assignments valid at `t` of the shift that is on at `t`, if any.
    pub fn instance_at(&self, ctx: &Ctx, t: DateTime<Utc>) -> Option<(usize, ShiftInstance)> {
        self.asgs
            .iter()
            .filter(|a| a.from <= t && a.to.is_none_or(|to| t < to))
            .find_map(|a| ctx.shifts[a.shift].instance_at(t).map(|i| (a.shift, i)))
    }

    /// The areas it works in `shift` at `t`.
    pub fn areas_of(&self, shift: usize, t: DateTime<Utc>) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .asgs
            .iter()
            .filter(|a| a.shift == shift && a.from <= t && a.to.is_none_or(|to| t < to))
            .map(|a| a.area)
            .collect();
        v.dedup();
        v
    }

    /// Whether it is assigned `route` in `shift`.
    pub fn works_route(&self, route: usize, shift: usize) -> bool {
        self.asgs
            .iter()
            .any(|a| a.area == route && a.shift == shift)
    }

    pub fn has_assignments(&self) -> bool {
        !self.asgs.is_empty()
    }

    /// The first shift it is assigned in (for working off shift).
    pub fn first_shift(&self) -> Option<usize> {
        self.asgs.first().map(|a| a.shift)
    }

    /// Everything this device publishes at instants in `[.., until)`.
    pub fn run_until(&mut self, ctx: &Ctx, until: DateTime<Utc>, out: &mut Vec<PlannedMessage>) {
        while self.next_tick < until {
            let t = self.next_tick;
            self.tick(ctx, t, out);
            self.next_tick = t + self.interval;
        }
    }

    /// The end of the run: flush any backlog, go offline, close the truth.
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
        if let Some(mut p) = self.on.as_mut().and_then(|o| o.late.take()) {
            p.to = end;
            self.close_late(p);
        }
        self.obs.finish(&self.params);
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
        if self.roles.silent_from.is_some_and(|s| t >= s) {
            self.note_silence(t);
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
            self.obs.observe(t, &[], &self.params);
            return;
        };
        let pos = self.true_position(ctx, t, &motion);
        let (x, y) = {
            let sigma = if ctx.behaviours.noise.enabled {
                self.prof.acc_m * ctx.behaviours.noise.scale
            } else {
                0.0
            };
            (
                pos[0] + sigma * self.rng.gauss(),
                pos[1] + sigma * self.rng.gauss(),
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
        let dropped = self.roles.dropout.is_some_and(|(a, b)| a <= t && t < b);
        let sos = !dropped && self.roles.sos_at.is_some_and(|s| s <= t);
        self.observe(ctx, t, pos, &motion, kmh, dropped, sos);
        if dropped {
            return;
        }
        self.note_pass(ctx, t, pos, kmh, motion.work);
        let (lon, lat) = ctx.frame.unproject([x, y]);
        if sos {
            self.roles.sos_at = None;
        }
        self.seq += 1;
        let on_since = self.on.as_ref().map_or(t, |o| o.inst.start);
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
        self.last_published = Some(t);
        if self.roles.backlog.is_some_and(|(a, b)| a <= t && t < b) {
            self.buffered_since.get_or_insert(t);
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

    /// Where the device really is: the walker's position, moved to the edge of its
    /// corridor while it works along it.
    fn true_position(&self, ctx: &Ctx, t: DateTime<Utc>, m: &Motion) -> P {
        let edging = self.edge_until.is_some_and(|u| t < u) && m.work && m.tag == Tag::Work;
        let Some(on) = self.on.as_ref().filter(|_| edging) else {
            return m.pos;
        };
        let hw = on
            .wa
            .areas()
            .iter()
            .filter_map(|g| match g {
                Geom::Route { hw, .. } => Some((g.distance(m.pos), *hw)),
                Geom::Zone { .. } => None,
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map_or(0.0, |x| x.1);
        let off = hw + self.params.area_margin_m - ctx.behaviours.edge.inside_m;
        let h = m.heading.to_radians();
        [m.pos[0] - h.cos() * off, m.pos[1] + h.sin() * off]
    }

    /// Coverage as the service will count it, from the fixes it will receive.
    fn note_pass(&mut self, ctx: &Ctx, t: DateTime<Utc>, pos: P, kmh: f64, work: bool) {
        if !(work && self.params.sweeps_routes && self.kind.has_work_sensor()) {
            self.last_work = None;
            return;
        }
        let now = WorkFix { at: t, pos, kmh };
        if let (Some(prev), Some(on)) = (self.last_work, self.on.as_ref()) {
            let routes: Vec<(usize, &[P], f64)> = on
                .routes
                .iter()
                .map(|&r| (r, ctx.shapes[r].points(), ctx.widths[r]))
                .collect();
            swept::passes(prev, now, &self.params, &routes, &on.inst, &mut self.passes);
        }
        self.last_work = Some(now);
    }

    /// The truth of this tick: which planted conditions hold.
    #[allow(clippy::too_many_arguments)]
    fn observe(
        &mut self,
        ctx: &Ctx,
        t: DateTime<Utc>,
        pos: P,
        m: &Motion,
        kmh: f64,
        dropped: bool,
        sos: bool,
    ) {
        let mut now = Vec::new();
        let off = |on: &OnShift| on.wa.is_off(pos);
        match m.tag {
            Tag::Transit if self.is_vehicle() => now.push(Cond::non_trouble("transit", "")),
            Tag::TransferTrip(_) | Tag::Break(_) | Tag::TrafficJam | Tag::Edge => {
                now.push(tag_cond(ctx, m.tag))
            }
            Tag::Idle => now.push(Cond::trouble(AlertKind::Idle, "idle")),
            Tag::TakeAway if self.on.as_ref().is_some_and(off) => {
                now.push(Cond::trouble(AlertKind::OffArea, "take_away"))
            }
            Tag::LeaveArea if self.on.as_ref().is_some_and(off) => {
                now.push(Cond::trouble(AlertKind::OffArea, "leave_area"))
            }
            Tag::OffRoute if m.work && self.on.as_ref().is_some_and(|o| !o.wa.in_assigned(pos)) => {
                now.push(Cond::trouble(AlertKind::WorkOffRoute, "off_route"))
            }
            _ => {}
        }
        let working = m.work && self.kind.has_work_sensor();
        if working && kmh > self.params.work_speed_max_kmh {
            now.push(Cond::trouble(AlertKind::SpeedingAtWork, "speeding"));
        }
        if working && self.on.is_none() && self.moonlight.is_some() {
            now.push(Cond::trouble(AlertKind::OffShiftWork, "off_shift"));
        }
        if self.edge_until.is_some_and(|u| t < u) && m.work && m.tag == Tag::Work {
            now.push(Cond::non_trouble("edge", "along the corridor's edge"));
        }
        if dropped {
            now.push(Cond::non_trouble("dropout", "no fix (a tunnel)"));
        }
        self.obs.observe(t, &now, &self.params);
        if sos {
            self.obs.record(Planted {
                kind: Some(AlertKind::Sos),
                device: Some(self.id.clone()),
                route: None,
                shift: None,
                from: t,
                to: t,
                behaviour: "sos".into(),
                note: String::new(),
            });
        }
        // A late starter has arrived at its first fix inside its area.
        if let Some(on) = self.on.as_mut()
            && on.late.is_some()
            && m.tag != Tag::Depot
            && on.wa.in_assigned(pos)
            && let Some(mut p) = on.late.take()
        {
            p.to = t;
            self.close_late(p);
        }
    }

    fn close_late(&mut self, p: Planted) {
        let grace = self.params.late_start_after_s;
        if (p.to - p.from).num_seconds() > grace {
            self.obs.record(p);
        } else {
            self.obs.record(Planted {
                kind: None,
                note: format!("arrived within the {grace} s grace"),
                ..p
            });
        }
    }

    /// The first silent tick of a device on shift: `offline`, counted from its last fix.
    fn note_silence(&mut self, t: DateTime<Utc>) {
        if self.silence_noted {
            return;
        }
        let Some(on) = self.on.as_ref().filter(|o| o.inst.contains(t)) else {
            return;
        };
        self.silence_noted = true;
        let from = self
            .last_published
            .unwrap_or(on.inst.start)
            .max(on.inst.start);
        self.obs.record(Planted {
            kind: Some(AlertKind::Offline),
            device: Some(self.id.clone()),
            route: None,
            shift: Some(instance_ref(&on.inst)),
            from,
            to: on.inst.end,
            behaviour: "silent".into(),
            note: "stopped publishing".into(),
        });
        self.obs.observe(t, &[], &self.params);
    }

    fn advance(&mut self, ctx: &Ctx, t: DateTime<Utc>) -> Option<Motion> {
        if !self.on.as_ref().is_some_and(|o| o.inst.contains(t)) {
            if let Some(mut p) = self.on.take().and_then(|o| o.late) {
                p.to = t;
                self.close_late(p);
            }
            if let Some(m) = self.moonlight(ctx, t) {
                return Some(m);
            }
            if t < self.recheck {
                return None;
            }
            let Some((shift, inst)) = self.instance_at(ctx, t) else {
                self.recheck = t + RECHECK;
                return None;
            };
            return Some(self.start_shift(ctx, t, shift, inst));
        }
        self.trigger(ctx, t);
        let dt = self.last_tick.map_or(0.0, |l| (t - l).as_seconds_f64());
        self.last_tick = Some(t);
        self.on.as_mut().map(|o| o.walker.advance(dt))
    }

    /// Off shift, inside the `off_shift` span: works the first route of its first shift.
    fn moonlight(&mut self, ctx: &Ctx, t: DateTime<Utc>) -> Option<Motion> {
        let (a, b) = self.roles.off_shift?;
        if !(a <= t && t < b) || self.instance_at(ctx, t).is_some() {
            self.moonlight = None;
            return None;
        }
        if self.moonlight.is_none() {
            // Its first route, over and over: one unbroken condition.
            let shift = self.first_shift()?;
            let first = self
                .areas_of(shift, t)
                .into_iter()
                .find(|&a| matches!(ctx.shapes[a], Shape::Line(_)))?;
            let areas = self.assigned(ctx, &[first]);
            let (start, steps) = program::build(
                self.kind,
                &areas,
                self.prof,
                &mut self.rng,
                program::Options::default(),
            );
            self.moonlight = Some(Walker::tagged(start, steps));
            self.last_tick = Some(t);
        }
        let dt = self.last_tick.map_or(0.0, |l| (t - l).as_seconds_f64());
        self.last_tick = Some(t);
        self.moonlight.as_mut().map(|w| w.advance(dt))
    }

    fn assigned<'a>(&self, ctx: &'a Ctx, areas: &[usize]) -> Vec<Assigned<'a>> {
        areas
            .iter()
            .map(|&a| Assigned {
                index: a as u32,
                shape: &ctx.shapes[a],
                purpose: ctx.purposes[a],
            })
            .collect()
    }

    /// Comes on shift at `t`: builds the program from the shift's assignments and moves
    /// on to where the device would be by now.
    fn start_shift(
        &mut self,
        ctx: &Ctx,
        t: DateTime<Utc>,
        shift: usize,
        inst: ShiftInstance,
    ) -> Motion {
        self.moonlight = None;
        let area_ix = self.areas_of(shift, t);
        let b = &ctx.behaviours;
        let skip = self.skipped_route(ctx, &area_ix, &inst);
        let wa = WorkingArea::new(
            self.kind,
            area_ix.iter().map(|&a| ctx.geom(a)).collect(),
            ctx.rest_ix.iter().map(|&a| ctx.geom(a)).collect(),
            self.params,
        );
        let opts = program::Options {
            stations: b.transfer_trips.enabled.then_some(program::StationStop {
                queue_s: b.transfer_trips.queue.as_secs_f64(),
                unload_s: b.transfer_trips.unload.as_secs_f64(),
            }),
            skip,
            working_area: Some(&wa),
        };
        let areas = self.assigned(ctx, &area_ix);
        let (start, steps) = program::build(self.kind, &areas, self.prof, &mut self.rng, opts);
        let home = areas
            .iter()
            .find(|a| {
                matches!(a.shape, Shape::Ring(_)) && a.purpose != Some(ZonePurpose::TransferStation)
            })
            .or(areas.first())
            .map(|a| a.shape.points().to_vec());
        let mut late = None;
        let mut walker = match self.roles.late.take() {
            Some(delay) => {
                let (w, p) = self.late_start(ctx, steps, &wa, start, &inst, delay);
                late = Some(p);
                w
            }
            None => Walker::tagged(start, steps),
        };
        let motion = walker.advance((t - inst.start.min(t)).as_seconds_f64());
        let br = &ctx.behaviours.breaks;
        self.next_break = None;
        if br.enabled && self.kind == DeviceKind::Worker && !ctx.rest_ix.is_empty() {
            let every = TimeDelta::from_std(br.every)
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
        let routes = area_ix
            .iter()
            .copied()
            .filter(|&a| matches!(ctx.shapes[a], Shape::Line(_)))
            .collect();
        self.on = Some(OnShift {
            inst,
            walker,
            home,
            wa,
            routes,
            late,
        });
        self.last_tick = Some(t);
        motion
    }

    /// The route it leaves unswept in `inst` (the `skip_route` role): its last one.
    /// The truth learns of it from the coverage (see `Planner::truth`).
    fn skipped_route(&mut self, ctx: &Ctx, areas: &[usize], inst: &ShiftInstance) -> Option<u32> {
        if !self.roles.skip_route {
            return None;
        }
        let routes: Vec<usize> = areas
            .iter()
            .copied()
            .filter(|&a| matches!(ctx.shapes[a], Shape::Line(_)))
            .collect();
        let &route = routes.last().filter(|_| routes.len() >= 2)?;
        self.skipped.push((route, inst.clone()));
        Some(route as u32)
    }

    fn flush(&mut self, t: DateTime<Utc>, out: &mut Vec<PlannedMessage>) {
        if self.buffer.is_empty() {
            return;
        }
        if let Some(from) = self.buffered_since.take() {
            let c = Cond::non_trouble("backlog", "stored, sent later");
            self.obs.record_span(c, from, t, &self.params);
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
