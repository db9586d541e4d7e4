//! The behaviours a device shows on shift, as detours of its walker. Each one waits
//! until the device is free (no other detour under way, arrived in its area) and in
//! a place where it is unambiguous under the rules, then starts; one that finds no
//! such place within [`GIVE_UP`] is dropped (and so never enters the truth).

use chrono::{DateTime, TimeDelta, Utc};
use geofence::{AlertKind, DeviceKind};

use super::device::{Ctx, DeviceSim};
use super::geom::{P, closest_on_polyline, dist, lerp};
use super::observe::instance_ref;
use super::reach::{WorkingArea, closed};
use super::walker::{Step, Tag, Walker};
use crate::quality::Planted;

/// A behaviour that found no place to happen this long after it was due is dropped.
const GIVE_UP: TimeDelta = TimeDelta::minutes(30);
/// Walking pace of a cleaner leaving her beat, km/h.
const WALK_KMH: f64 = 4.5;
/// Speed of turning into a side street, km/h.
const TURN_KMH: f64 = 10.0;
/// Speed of manoeuvring in a yard, km/h.
const YARD_KMH: f64 = 8.0;
/// A cleaner does not stand still (idle) within this of a rest zone's centre.
const REST_CLEARANCE_M: f64 = 60.0;
/// A traffic jam happens with at least this far still to drive.
const JAM_CLEAR_M: f64 = 100.0;
/// A sweeper working off its routes turns into a side street this far out.
const OFF_ROUTE_FROM_M: f64 = 40.0;

fn unit(a: P, b: P) -> Option<P> {
    let d = dist(a, b);
    (d > 1e-6).then(|| [(b[0] - a[0]) / d, (b[1] - a[1]) / d])
}

fn at(p: P, u: P, s: f64) -> P {
    [p[0] + u[0] * s, p[1] + u[1] * s]
}

fn mv(to: P, kmh: f64, work: bool) -> Step {
    Step::Move { to, kmh, work }
}

/// Moves back and forth between `a` and `b` (starting towards `b`) for at least
/// `secs`, ending at `a`.
fn shuttle(a: P, b: P, kmh: f64, work: bool, secs: f64) -> Vec<Step> {
    let leg = dist(a, b) / (kmh / 3.6).max(0.01);
    let pairs = (secs / (2.0 * leg.max(1.0))).ceil().max(1.0) as usize;
    (0..pairs)
        .flat_map(|_| [mv(b, kmh, work), mv(a, kmh, work)])
        .collect()
}

impl DeviceSim {
    /// Starts the behaviour that is due, if the device is free and placed for it.
    #[expect(
        clippy::too_many_lines,
        reason = "one branch per behaviour, each a few lines, in the priority order the behaviours are tried in; the order is the point"
    )]
    pub(super) fn trigger(&mut self, ctx: &Ctx, t: DateTime<Utc>) {
        let Some(on) = self.on.as_ref() else { return };
        if self.edge_until.is_some_and(|u| t >= u) {
            self.edge_until = None;
        }
        if on.walker.in_detour() || on.late.is_some() || self.edge_until.is_some() {
            return;
        }
        let due = |x: Option<DateTime<Utc>>| x.is_some_and(|a| a <= t);
        let stale = |x: Option<DateTime<Utc>>| x.is_some_and(|a| t - a > GIVE_UP);
        let b = ctx.behaviours.clone();
        let worker = self.kind == DeviceKind::Worker;
        let pos = on.walker.pos();
        let working_move = on.walker.current_move().filter(|m| m.2);
        let on_route = working_move.is_some() && on.wa.in_assigned(pos);

        if let Some((when, secs)) = self.roles.idle.filter(|r| r.0 <= t) {
            let ok = if worker {
                on.wa.in_assigned(pos)
                    && ctx
                        .rest_ix
                        .iter()
                        .all(|&r| dist(ctx.shapes[r].centre(), pos) > REST_CLEARANCE_M)
            } else {
                on_route
            };
            if ok || t - when > GIVE_UP {
                self.roles.idle = None;
            }
            if ok {
                let dwell = Step::Dwell { secs, work: false };
                return self.detour([dwell], Tag::Idle);
            }
        }
        if due(self.roles.leave_at) {
            let steps = on.home.as_ref().and_then(|ring| {
                leave_beat(
                    &on.wa,
                    ring,
                    pos,
                    b.leave_area.distance_m,
                    b.leave_area.duration.as_secs_f64(),
                )
            });
            if steps.is_some() || stale(self.roles.leave_at) {
                self.roles.leave_at = None;
            }
            if let Some(s) = steps {
                return self.detour(s, Tag::LeaveArea);
            }
        }
        if due(self.roles.take_away_at) {
            let steps = on_route
                .then(|| {
                    take_away(
                        &on.wa,
                        pos,
                        b.take_away.distance_m,
                        b.take_away.duration.as_secs_f64(),
                        self.prof.transit_kmh,
                    )
                })
                .flatten();
            if steps.is_some() || stale(self.roles.take_away_at) {
                self.roles.take_away_at = None;
            }
            if let Some(s) = steps {
                return self.detour(s, Tag::TakeAway);
            }
        }
        if due(self.roles.off_route_at) {
            let steps = working_move.filter(|_| on_route).and_then(|(a, z, _)| {
                off_route(
                    &on.wa,
                    pos,
                    unit(a, z)?,
                    b.off_route.length_m,
                    b.off_route.duration.as_secs_f64(),
                    self.prof.work_kmh,
                )
            });
            if steps.is_some() || stale(self.roles.off_route_at) {
                self.roles.off_route_at = None;
            }
            if let Some(s) = steps {
                return self.detour(s, Tag::OffRoute);
            }
        }
        if due(self.roles.speeding_at) {
            let kmh = self.params.work_speed_max_kmh * b.speeding.factor;
            let steps = working_move.filter(|_| on_route).and_then(|(a, z, _)| {
                let far = if dist(pos, a) > dist(pos, z) { a } else { z };
                (dist(pos, far) >= 60.0)
                    .then(|| shuttle(pos, far, kmh, true, b.speeding.duration.as_secs_f64()))
            });
            if steps.is_some() || stale(self.roles.speeding_at) {
                self.roles.speeding_at = None;
            }
            if let Some(s) = steps {
                return self.detour(s, Tag::Speeding);
            }
        }
        if due(self.roles.jam_at) {
            // On the road, with a way to go: not in a queue, nor just before one (two
            // stops back to back are one long stop).
            let driving = on
                .walker
                .current_move()
                .is_some_and(|(_, to, _)| dist(pos, to) >= JAM_CLEAR_M);
            if driving || stale(self.roles.jam_at) {
                self.roles.jam_at = None;
            }
            if driving {
                let secs = b.traffic_jam.duration.as_secs_f64();
                return self.detour([Step::Dwell { secs, work: false }], Tag::TrafficJam);
            }
        }
        if due(self.roles.edge_at) {
            let dur = TimeDelta::from_std(b.edge.duration).unwrap_or_default();
            let steps = if worker {
                on.home
                    .as_ref()
                    .filter(|_| on.wa.in_assigned(pos))
                    .map(|ring| {
                        let outward = self.params.area_margin_m - b.edge.inside_m;
                        along_edge(ring, pos, outward, dur.as_seconds_f64(), self.prof.work_kmh)
                    })
            } else {
                None
            };
            let vehicle_ok = !worker && on_route;
            if steps.is_some() || vehicle_ok || stale(self.roles.edge_at) {
                self.roles.edge_at = None;
            }
            if vehicle_ok {
                self.edge_until = Some(t + dur);
                return;
            }
            if let Some(s) = steps {
                return self.detour(s, Tag::Edge);
            }
        }
        if due(self.next_break) {
            self.take_break(ctx, t, pos);
        }
    }

    fn detour(&mut self, steps: impl IntoIterator<Item = Step>, tag: Tag) {
        if let Some(on) = self.on.as_mut() {
            on.walker.detour(steps, tag);
        }
    }

    /// A break at the nearest city service station: walk there, rest, walk back.
    fn take_break(&mut self, ctx: &Ctx, _t: DateTime<Utc>, here: P) {
        let every = TimeDelta::from_std(ctx.behaviours.breaks.every)
            .unwrap_or(TimeDelta::hours(2))
            .max(TimeDelta::minutes(1));
        self.next_break = self.next_break.map(|n| n + every);
        let nearest = ctx
            .rest_ix
            .iter()
            .map(|&i| (i, ctx.shapes[i].centre()))
            .min_by(|a, b| dist(a.1, here).total_cmp(&dist(b.1, here)));
        if let Some((i, rest)) = nearest {
            let k = self.prof.transit_kmh;
            let secs = ctx.behaviours.breaks.duration.as_secs_f64();
            let steps = [
                mv(rest, k, false),
                Step::Dwell { secs, work: false },
                mv(here, k, false),
            ];
            self.detour(steps, Tag::Break(i as u32));
        }
    }

    /// A late start: the vehicle reports from the start of its shift, in a yard
    /// `depot_m` away (manoeuvring, so it is not idle), and drives in to arrive
    /// `delay` after the start. Returns its walker and the truth, open until arrival.
    pub(super) fn late_start(
        &mut self,
        ctx: &Ctx,
        steps: Vec<(Step, Tag)>,
        wa: &WorkingArea,
        start: P,
        inst: &geofence::ShiftInstance,
        delay: TimeDelta,
    ) -> (Walker, Planted) {
        let v = self.prof.transit_kmh / 3.6;
        let delay_s = delay.as_seconds_f64().max(60.0);
        let far = ctx.behaviours.late_start.depot_m.min(delay_s * v * 0.7);
        let turn = self.rng.unit() * std::f64::consts::TAU;
        let clear = |u: P| {
            let w = [-u[1], u[0]];
            let yard = at(at(start, u, far), w, 40.0);
            (30..=far as usize)
                .step_by(25)
                .all(|x| !wa.in_assigned(at(start, u, x as f64)))
                && !wa.in_assigned(yard)
        };
        let u = (0..16)
            .map(|k| turn + k as f64 * std::f64::consts::TAU / 16.0)
            .map(|a| [a.cos(), a.sin()])
            .find(|u| clear(*u))
            .unwrap_or([1.0, 0.0]);
        let depot = at(start, u, far);
        let yard_s = (delay_s - far / v).max(0.0);
        let mut detour = Vec::new();
        let leg_s = 40.0 / (YARD_KMH / 3.6);
        let legs = (yard_s / leg_s).floor() as usize;
        let side = at(depot, [-u[1], u[0]], 40.0);
        for k in 0..legs {
            detour.push(mv(if k % 2 == 0 { side } else { depot }, YARD_KMH, false));
        }
        let rest = yard_s - legs as f64 * leg_s;
        if rest > 0.0 {
            detour.push(Step::Dwell {
                secs: rest,
                work: false,
            });
        }
        detour.push(mv(start, self.prof.transit_kmh, false));
        let mut walker = Walker::tagged(depot, steps);
        walker.detour(detour, Tag::Depot);
        let note = format!("in a yard {far:.0} m away, then driving in");
        (walker, self.late_planted(inst, &note))
    }

    /// A late start's truth, open until the device arrives.
    pub(super) fn late_planted(&self, inst: &geofence::ShiftInstance, note: &str) -> Planted {
        Planted {
            kind: Some(AlertKind::LateStart),
            device: Some(self.id.clone()),
            route: None,
            shift: Some(instance_ref(inst)),
            from: inst.start,
            to: inst.start,
            behaviour: "late_start".into(),
            note: note.into(),
        }
    }
}

/// A driver takes the vehicle away: straight out, in the direction where it is gone
/// soonest and for good (past the ways between its areas, with no way back into the
/// working area further on), until it is `distance_m` from every assigned area;
/// around there for `secs`, and back to `pos`.
fn take_away(wa: &WorkingArea, pos: P, distance_m: f64, secs: f64, kmh: f64) -> Option<Vec<Step>> {
    const FURTHEST_M: usize = 5_000;
    let mut best: Option<(f64, P)> = None;
    for k in 0..24 {
        let a = k as f64 * std::f64::consts::TAU / 24.0;
        let u = [a.cos(), a.sin()];
        let mut onset = None;
        let mut far = None;
        for s in (10..=FURTHEST_M).step_by(10) {
            let p = at(pos, u, s as f64);
            match (onset, wa.is_off(p)) {
                (None, true) => onset = Some(s as f64),
                (Some(_), false) => break,
                _ => {}
            }
            let nearest = wa
                .areas()
                .iter()
                .map(|g| g.distance(p))
                .fold(f64::INFINITY, f64::min);
            if onset.is_some() && nearest >= distance_m {
                far = Some(s as f64);
                break;
            }
        }
        let Some(reach) = far else { continue };
        let target = at(pos, u, reach + 150.0);
        let w = [-u[1], u[0]];
        let around = (-150..=150).step_by(25).all(|x| {
            wa.is_off(at(target, w, x as f64)) && wa.is_off(at(target, u, (x + 150) as f64))
        });
        if around && best.is_none_or(|b| reach < b.0) {
            best = Some((reach, u));
        }
    }
    let (reach, u) = best?;
    let target = at(pos, u, reach + 150.0);
    let w = [-u[1], u[0]];
    let mut steps = vec![mv(target, kmh, false)];
    steps.extend(shuttle(
        at(target, w, -150.0),
        at(target, w, 150.0),
        kmh,
        false,
        secs,
    ));
    steps.push(mv(pos, kmh, false));
    Some(steps)
}

/// A sweeper turns into a side street beside its route and works it, from
/// [`OFF_ROUTE_FROM_M`] to that plus `length_m` out, back and forth for `secs`: outside
/// every assigned area all the time it works, never far enough to be gone.
fn off_route(
    wa: &WorkingArea,
    pos: P,
    along: P,
    length_m: f64,
    secs: f64,
    kmh: f64,
) -> Option<Vec<Step>> {
    let margin = wa.params.area_margin_m;
    for n in [[-along[1], along[0]], [along[1], -along[0]]] {
        let ok = (0..=length_m as usize).step_by(5).all(|x| {
            let p = at(pos, n, OFF_ROUTE_FROM_M + x as f64);
            let d = wa
                .areas()
                .iter()
                .map(|g| g.distance(p))
                .fold(f64::INFINITY, f64::min);
            d > margin + 5.0 && !wa.is_off(p) && d < wa.params.off_area_distance_m - 20.0
        });
        if ok {
            let a = at(pos, n, OFF_ROUTE_FROM_M);
            let b = at(pos, n, OFF_ROUTE_FROM_M + length_m);
            let mut steps = vec![mv(a, TURN_KMH, false)];
            steps.extend(shuttle(a, b, kmh, true, secs));
            steps.push(mv(pos, TURN_KMH, false));
            return Some(steps);
        }
    }
    None
}

/// The outward normal of each ring edge (the ring is convex-ish: away from its centre).
fn edges(ring: &[P]) -> Vec<(P, P, P)> {
    let c = super::geom::centroid(ring);
    closed(ring)
        .windows(2)
        .filter_map(|w| {
            let d = unit(w[0], w[1])?;
            let mut n = [d[1], -d[0]];
            let mid = lerp(w[0], w[1], 0.5);
            if (mid[0] - c[0]) * n[0] + (mid[1] - c[1]) * n[1] < 0.0 {
                n = [-n[0], -n[1]];
            }
            Some((w[0], w[1], n))
        })
        .collect()
}

/// A cleaner walks out of her beat at the exit nearest to her from which the way out
/// is gone all along (not towards a rest zone), stays, and walks back.
fn leave_beat(
    wa: &WorkingArea,
    ring: &[P],
    here: P,
    distance_m: f64,
    secs: f64,
) -> Option<Vec<Step>> {
    let margin = wa.params.area_margin_m;
    let mut best: Option<(f64, P, P)> = None;
    for (a, b, n) in edges(ring) {
        let len = dist(a, b);
        for s in (40..(len - 40.0).max(40.0) as usize).step_by(25) {
            let e = lerp(a, b, s as f64 / len);
            let gone = ((margin + 2.0) as usize..=(distance_m + 10.0) as usize)
                .step_by(5)
                .all(|x| wa.is_off(at(e, n, x as f64)));
            let d = dist(here, e);
            if gone && best.is_none_or(|b| d < b.0) {
                best = Some((d, e, n));
            }
        }
    }
    let (_, e, n) = best?;
    let out = at(e, n, distance_m);
    Some(vec![
        mv(e, WALK_KMH, true),
        mv(out, WALK_KMH, true),
        Step::Dwell { secs, work: true },
        mv(e, WALK_KMH, true),
        mv(here, WALK_KMH, true),
    ])
}

/// A cleaner walks along the nearest edge of her beat, `outward` metres outside it
/// (within the rule's margin), for about `secs`, and back.
fn along_edge(ring: &[P], here: P, outward: f64, secs: f64, kmh: f64) -> Vec<Step> {
    let c = closed(ring);
    let (i, q) = closest_on_polyline(&c, here);
    let (a, b) = (c[i], c[i + 1]);
    let n = edges(ring).get(i).map_or([0.0, 0.0], |e| e.2);
    let end = if dist(q, a) > dist(q, b) { a } else { b };
    let dir = unit(q, end).unwrap_or([0.0, 0.0]);
    let half = (secs * kmh / 3.6 / 2.0).min((dist(q, end) - 30.0).max(0.0));
    let start = at(q, n, outward);
    let far = at(at(q, dir, half), n, outward);
    vec![
        mv(start, kmh, true),
        mv(far, kmh, true),
        mv(start, kmh, true),
        mv(here, kmh, true),
    ]
}
