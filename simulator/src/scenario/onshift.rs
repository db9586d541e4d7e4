//! Coming on shift: the program of a shift instance from the device's assignments
//! (with a skipped route or a late start's yard when it has those roles), its working
//! area, its breaks; and working off shift.

use chrono::{DateTime, TimeDelta, Utc};
use geofence::{DeviceKind, ShiftInstance, ZonePurpose};

use super::device::{Ctx, DeviceSim, OnShift};
use super::geom::Shape;
use super::program::{self, Assigned};
use super::reach::WorkingArea;
use super::walker::{Motion, Walker};

impl DeviceSim {
    /// Off shift, inside the `off_shift` span: works the first route of its first shift.
    pub(super) fn moonlight(&mut self, ctx: &Ctx, t: DateTime<Utc>) -> Option<Motion> {
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

    pub(super) fn assigned<'a>(&self, ctx: &'a Ctx, areas: &[usize]) -> Vec<Assigned<'a>> {
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
    pub(super) fn start_shift(
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
        let mut from = inst.start.min(t);
        let mut walker = match self.roles.late.take() {
            Some(delay) => {
                let (w, p) = self.late_start(ctx, steps, &wa, start, &inst, delay);
                late = Some(p);
                w
            }
            None => Walker::tagged(start, steps),
        };
        if let Some(dark) = self.roles.dark_until.take().filter(|d| *d > inst.start) {
            // Its GPS comes on as it arrives: the program starts then.
            from = dark.min(t);
            late = Some(self.late_planted(&inst, "reported nothing until it arrived"));
        }
        let motion = walker.advance((t - from).as_seconds_f64());
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
    pub(super) fn skipped_route(
        &mut self,
        ctx: &Ctx,
        areas: &[usize],
        inst: &ShiftInstance,
    ) -> Option<u32> {
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
}
