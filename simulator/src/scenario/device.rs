//! One simulated device: when it is on shift it advances its [`Walker`] fix by fix, and
//! its roles (the behaviours the planner gave it, started in `behave`) shape what it
//! does and publishes. What it does is kept as ground truth (see `witness`).

use chrono::{DateTime, TimeDelta, Utc};
use geofence::geodesy::LocalFrame;
use geofence::{DeviceKind, RuleParams, Shift, ShiftInstance, ZonePurpose};

use super::behaviours::Behaviours;
use super::geom::{P, Shape};
use super::observe::{Cond, Observer};
use super::payload::{self, FixData};
use super::program::Profile;
use super::reach::{Geom, WorkingArea};
use super::rng::Rng;
use super::swept::{Pass, WorkFix};
use super::walker::{Motion, Walker};
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
    /// Reports nothing before this instant (a late start with the GPS off).
    pub dark_until: Option<DateTime<Utc>>,
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
    pub(super) topic: String,
    pub(super) ot: Option<(String, String)>,
    pub(super) interval: TimeDelta,
    pub(super) next_tick: DateTime<Utc>,
    pub(super) last_tick: Option<DateTime<Utc>>,
    pub(super) rng: Rng,
    pub(super) asgs: Vec<Asg>,
    pub(super) on: Option<OnShift>,
    /// Working off shift (the `off_shift` role).
    pub(super) moonlight: Option<Walker>,
    /// When to look at the calendar again while off shift.
    pub(super) recheck: DateTime<Utc>,
    pub(super) prof: Profile,
    pub(super) params: RuleParams,
    pub(super) seq: u64,
    batt0: f64,
    pub roles: Roles,
    pub(super) next_break: Option<DateTime<Utc>>,
    /// Working along the edge of its corridor until then (vehicles).
    pub(super) edge_until: Option<DateTime<Utc>>,
    pub(super) buffer: Vec<String>,
    pub(super) buffered_since: Option<DateTime<Utc>>,
    pub(super) announced: bool,
    pub(super) backlog_max: usize,
    pub(super) last_published: Option<DateTime<Utc>>,
    pub(super) silence_noted: bool,
    pub obs: Observer,
    /// What its published working fixes swept (see `swept`).
    pub passes: Vec<Pass>,
    pub(super) last_work: Option<WorkFix>,
    /// Routes it left unswept (the `skip_route` role), by instance.
    pub skipped: Vec<(usize, ShiftInstance)>,
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

    #[expect(
        clippy::too_many_lines,
        reason = "one tick of a device: move, add the receiver's noise, shape the fix and its message; the RNG draws must stay in this order for a seed to replay"
    )]
    fn tick(&mut self, ctx: &Ctx, t: DateTime<Utc>, out: &mut Vec<PlannedMessage>) {
        if self.roles.silent_from.is_some_and(|s| t >= s) {
            self.note_silence(t);
            return;
        }
        if self.roles.dark_until.is_some_and(|d| t < d) {
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
