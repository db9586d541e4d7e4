//! How a device keeps the ground truth: where it really is, which planted
//! conditions hold at each of its fixes (see `observe`), what it sweeps (see `swept`),
//! and the troubles recorded whole (a silence, a late start).

use chrono::{DateTime, Utc};
use geofence::AlertKind;

use super::device::{Ctx, DeviceSim, OnShift};
use super::geom::P;
use super::observe::{Cond, instance_ref};
use super::reach::Geom;
use super::swept::{self, WorkFix};
use super::walker::{Motion, Tag};
use crate::quality::Planted;

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

impl DeviceSim {
    /// Where the device really is: the walker's position, moved to the edge of its
    /// corridor while it works along it.
    pub(super) fn true_position(&self, ctx: &Ctx, t: DateTime<Utc>, m: &Motion) -> P {
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
    pub(super) fn note_pass(&mut self, ctx: &Ctx, t: DateTime<Utc>, pos: P, kmh: f64, work: bool) {
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
    pub(super) fn observe(
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

    pub(super) fn close_late(&mut self, p: Planted) {
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
    pub(super) fn note_silence(&mut self, t: DateTime<Utc>) {
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
}
