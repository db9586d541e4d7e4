//! The coverage side of the engine: placing a fix in the device's reorder
//! window, turning pass segments into route intervals, and the coverage API.

use crate::coverage::{Cell, CoverageSnapshot, Justification, Pending, Spans};
use crate::device::{Buffered, CellRefs, MANY_CELLS, NO_CELL, REORDER_WINDOW, TrackPoint};
use crate::engine::Engine;
use crate::error::GeofenceError;
use crate::fxhash::FxSet;
use crate::ids::AreaId;
use crate::report::{self, CoverageReport};
use crate::rules_config::RuleParams;
use crate::shift::ShiftInstanceKey;
use chrono::{DateTime, Utc};

/// The along-route interval a segment counts one pass over: its progress along
/// the route (between the along-route positions `sa`, `sb` of its end points),
/// limited to what it covers. Consecutive segments of a drive meet at the same
/// position, so their count steps cancel and a drive end to end counts once.
fn count_interval(covered: &[(f64, f64)], sa: f64, sb: f64) -> Option<(f64, f64)> {
    let (lo, hi) = (covered.first()?.0, covered.last()?.1);
    let (a, b) = (sa.min(sb).max(lo), sa.max(sb).min(hi));
    (b > a).then_some((a, b))
}

impl Engine {
    /// Put a fix in the device's reorder window and update coverage. Returns
    /// false for a duplicate timestamp or a fix older than the whole window.
    /// `base`: the device's rule parameters outside any area.
    pub(crate) fn feed_coverage(&mut self, d: u32, tp: TrackPoint, base: &RuleParams) -> bool {
        let buf = &self.devices[d as usize].buf;
        let pos = buf.partition_point(|b| b.ts_ms() < tp.ts_ms);
        if buf.get(pos).is_some_and(|b| b.ts_ms() == tp.ts_ms) {
            return false;
        }
        if pos == 0 && buf.len() >= REORDER_WINDOW {
            return false;
        }
        let pred = pos.checked_sub(1).map(|i| buf[i].p());
        let succ = buf.get(pos).map(Buffered::p);
        if let (Some(p), Some(_)) = (pred, succ) {
            let old = self.take_cells(d, pos - 1);
            for &c in old.as_slice() {
                if let Some(cell) = self.cells.get_mut(&c) {
                    cell.remove(d, p.ts_ms);
                    self.dirty_cells.insert(c);
                }
            }
        }
        if let Some(p) = pred {
            let cells = self.add_segment(d, &p, &tp, base);
            self.put_cells(d, pos - 1, cells);
        }
        let cells = match succ {
            Some(s) => self.add_segment(d, &tp, &s, base),
            None => CellRefs::None,
        };
        let buf = &mut self.devices[d as usize].buf;
        buf.insert(pos, Buffered::new(tp, NO_CELL));
        self.put_cells(d, pos, cells);
        if self.devices[d as usize].buf.len() > REORDER_WINDOW {
            let old = self.take_cells(d, 0);
            if let Some(gone) = self.devices[d as usize].buf.pop_front() {
                for c in old.as_slice() {
                    if let Some(cell) = self.cells.get_mut(c) {
                        cell.settle(d, gone.ts_ms());
                    }
                }
            }
        }
        true
    }

    /// Takes the cells the outgoing segment of buffered fix `i` of device `d`
    /// touched, leaving none.
    fn take_cells(&mut self, d: u32, i: usize) -> CellRefs {
        let b = &mut self.devices[d as usize].buf[i];
        match std::mem::replace(&mut b.cell, NO_CELL) {
            NO_CELL => CellRefs::None,
            MANY_CELLS => self
                .many_cells
                .remove(&(d, b.ts_ms()))
                .map_or(CellRefs::None, CellRefs::Many),
            c => CellRefs::One(c),
        }
    }

    /// Records the cells the outgoing segment of buffered fix `i` of device
    /// `d` touched (it held none).
    fn put_cells(&mut self, d: u32, i: usize, cells: CellRefs) {
        let b = &mut self.devices[d as usize].buf[i];
        b.cell = match cells {
            CellRefs::None => NO_CELL,
            CellRefs::One(c) => c,
            CellRefs::Many(v) => {
                self.many_cells.insert((d, b.ts_ms()), v);
                MANY_CELLS
            }
        };
    }

    /// Add the pass segment a→b of device `d` to every route cell it covers;
    /// returns the cells touched.
    fn add_segment(&mut self, d: u32, a: &TrackPoint, b: &TrackPoint, p: &RuleParams) -> CellRefs {
        let kind = self.devices[d as usize].kind;
        let dt_s = (b.ts_ms - a.ts_ms) as f64 / 1000.0;
        let dist = self.scratch.distance_m(a.lon, a.lat, b.lon, b.lat);
        if dt_s <= 0.0 || dt_s > p.gap_max_s as f64 || dist > p.gap_max_m {
            return CellRefs::None;
        }
        let speed = match (a.speed, b.speed) {
            (Some(sa), Some(sb)) => f64::from(sa + sb) * 0.5,
            _ => dist / dt_s * 3.6,
        };
        let works = |t: &TrackPoint| match t.work {
            Some(w) => w,
            None => speed >= p.moving_min_kmh,
        };
        if !(works(a) && works(b)) || speed < p.work_speed_min_kmh || speed > p.work_speed_max_kmh {
            return CellRefs::None;
        }
        // Whether the device sweeps routes may be overridden per route.
        let per_route = !self.config.rules.areas.is_empty();
        if !p.sweeps_routes && !per_route {
            return CellRefs::None;
        }
        let min = [a.lon.min(b.lon), a.lat.min(b.lat)];
        let max = [a.lon.max(b.lon), a.lat.max(b.lat)];
        let mut sc = std::mem::take(&mut self.scratch);
        sc.routes.clear();
        sc.touched.clear();
        self.index.near_routes(min, max, |i| sc.routes.push(i));
        for k in 0..sc.routes.len() {
            let ri = sc.routes[k];
            let Some(route) = self.index.areas[ri as usize].route() else {
                continue;
            };
            if per_route {
                let area = self.index.areas[ri as usize].area.id();
                let rp = self
                    .config
                    .rules
                    .resolve(kind, Some(area), &self.dev_keys[d as usize]);
                if !rp.sweeps_routes {
                    continue;
                }
            }
            let pa = route.frame.project(a.lon, a.lat);
            let pb = route.frame.project(b.lon, b.lat);
            let (sa, sb) = route.covered_by_segment(pa, pb, &mut sc.spans);
            if sc.spans.is_empty() {
                continue;
            }
            let count = count_interval(&sc.spans, sa, sb);
            let minute = b.ts_ms.div_euclid(60_000) * 60;
            if let Some(served) = self.served.get_mut(ri as usize) {
                for &(f, t) in &sc.spans {
                    served.raise(f, t, minute);
                }
            }
            let total = route.total();
            self.cells_at(ri, b.ts_ms, total, &mut sc.cells);
            for &c in &sc.cells {
                if sc.touched.contains(&c) {
                    continue;
                }
                if let Some(cell) = self.cells.get_mut(&c) {
                    let covered = Spans::from_slice(&sc.spans);
                    cell.add(d, a.ts_ms, Pending { covered, count });
                    self.dirty_cells.insert(c);
                    sc.touched.push(c);
                }
            }
        }
        let refs = CellRefs::from_slice(&sc.touched);
        self.scratch = sc;
        refs
    }

    /// Cells of route `ri` for the shift instances running at `t_ms` (created
    /// as needed), into `out`.
    fn cells_at(&mut self, ri: u32, t_ms: i64, total: f64, out: &mut Vec<u32>) {
        out.clear();
        let Some(links) = self.route_shifts.get(&ri) else {
            return;
        };
        for link in links {
            if !link.valid_at(t_ms) {
                continue;
            }
            let s = link.shift;
            let cal = &mut self.calendars[s as usize];
            cal.ensure(t_ms);
            let Some(inst) = cal.find(t_ms) else { continue };
            if self.coverage_final_before.is_some_and(|f| inst.end < f) {
                continue;
            }
            let key = (ri, s, inst.local_date);
            let id = match self.cell_index.get(&key) {
                Some(&id) => id,
                None => {
                    let id = self.next_cell;
                    self.next_cell += 1;
                    let route = self.index.areas[ri as usize].area.id().clone();
                    let cell = Cell::new(route.clone(), inst.key(), inst.end, total);
                    self.cell_by_key.insert((route, inst.key()), id);
                    self.cells.insert(id, cell);
                    self.cell_index.insert(key, id);
                    id
                }
            };
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }

    /// Coverage of a route in a shift instance, if anything was recorded.
    pub fn coverage(&self, route: &AreaId, instance: &ShiftInstanceKey) -> Option<CoverageReport> {
        let id = self.cell_by_key.get(&(route.clone(), instance.clone()))?;
        let cell = self.cells.get(id)?;
        let &ri = self.index.by_id.get(route)?;
        let ca = &self.index.areas[ri as usize];
        let passes = match ca.area.kind() {
            crate::area::AreaKind::Route {
                passes_required, ..
            } => *passes_required,
            crate::area::AreaKind::Zone { .. } => return None,
        };
        Some(report::build(
            cell,
            ca.route()?,
            passes,
            self.served.get(ri as usize),
        ))
    }

    /// Mark `[from_m, to_m)` of a route in a shift instance as justified (parked
    /// cars, road works). Creates the cell if no pass was recorded yet.
    pub fn justify(
        &mut self,
        route: &AreaId,
        instance: &ShiftInstanceKey,
        from_m: f64,
        to_m: f64,
        note: impl Into<String>,
    ) -> Result<(), GeofenceError> {
        let bad = |m: &str| GeofenceError::InvalidJustification(m.to_string());
        let &ri = self
            .index
            .by_id
            .get(route)
            .ok_or_else(|| bad("unknown route"))?;
        let total = self.index.areas[ri as usize]
            .route()
            .ok_or_else(|| bad("not a route"))?
            .total();
        if !(from_m.is_finite()
            && to_m.is_finite()
            && 0.0 <= from_m
            && from_m < to_m
            && to_m <= total + 1e-6)
        {
            return Err(bad("need 0 <= from_m < to_m <= route length"));
        }
        let id = match self.cell_by_key.get(&(route.clone(), instance.clone())) {
            Some(&id) => id,
            None => {
                let &s = self
                    .shift_ids
                    .get(&instance.shift)
                    .ok_or_else(|| bad("unknown shift"))?;
                let inst = self.calendars[s as usize]
                    .shift
                    .instance_on(instance.local_date)
                    .ok_or_else(|| bad("the shift does not run that day"))?;
                let id = self.next_cell;
                self.next_cell += 1;
                self.cells.insert(
                    id,
                    Cell::new(route.clone(), instance.clone(), inst.end, total),
                );
                self.cell_by_key
                    .insert((route.clone(), instance.clone()), id);
                self.cell_index.insert((ri, s, instance.local_date), id);
                id
            }
        };
        if let Some(cell) = self.cells.get_mut(&id) {
            cell.justified.push(Justification {
                from_m,
                to_m: to_m.min(total),
                note: note.into(),
            });
        }
        self.dirty_cells.insert(id);
        Ok(())
    }

    /// The (route, instance) cells changed since the last call.
    pub fn drain_dirty_coverage(&mut self) -> Vec<(AreaId, ShiftInstanceKey)> {
        let mut out: Vec<_> = self
            .dirty_cells
            .drain()
            .filter_map(|id| {
                self.cells
                    .get(&id)
                    .map(|c| (c.route.clone(), c.key.clone()))
            })
            .collect();
        out.sort();
        out
    }

    /// Serialisable coverage state of one cell.
    pub fn coverage_snapshot(
        &self,
        route: &AreaId,
        instance: &ShiftInstanceKey,
    ) -> Option<CoverageSnapshot> {
        let id = self.cell_by_key.get(&(route.clone(), instance.clone()))?;
        self.cells.get(id).map(Cell::snapshot)
    }

    /// Restore a cell saved with [`Engine::coverage_snapshot`] (after loading
    /// areas and shifts). Refused if the route is unknown or its length changed.
    pub fn restore_coverage(&mut self, snap: CoverageSnapshot) -> Result<(), GeofenceError> {
        let bad = |m: &str| GeofenceError::InvalidSnapshot(m.to_string());
        let &ri = self
            .index
            .by_id
            .get(&snap.route)
            .ok_or_else(|| bad("unknown route"))?;
        let route = self.index.areas[ri as usize]
            .route()
            .ok_or_else(|| bad("not a route"))?;
        if (route.total() - snap.total_m).abs() > 1e-6 {
            return Err(bad("route length changed"));
        }
        if self
            .coverage_final_before
            .is_some_and(|f| snap.instance_end < f)
        {
            return Ok(());
        }
        let key = (snap.route.clone(), snap.instance.clone());
        let id = match self.cell_by_key.get(&key) {
            Some(&id) => id,
            None => {
                self.next_cell += 1;
                self.next_cell - 1
            }
        };
        if let Some(&s) = self.shift_ids.get(&snap.instance.shift) {
            self.cell_index
                .insert((ri, s, snap.instance.local_date), id);
        }
        self.cell_by_key.insert(key, id);
        self.cells.insert(id, Cell::from_snapshot(snap));
        Ok(())
    }

    /// Make coverage of shift instances that ended before `t` final: their
    /// cells leave memory, and a fix of such an instance arriving later no
    /// longer changes its coverage (it would otherwise start an empty cell
    /// that overwrites the stored one). Cells changed since the last
    /// [`Engine::drain_dirty_coverage`] are kept until drained, so nothing
    /// unreported is lost. Returns how many cells were dropped.
    pub fn drop_coverage_ended_before(&mut self, t: DateTime<Utc>) -> usize {
        let gone: FxSet<u32> = self
            .cells
            .iter()
            .filter(|(id, c)| c.instance_end < t && !self.dirty_cells.contains(id))
            .map(|(&id, _)| id)
            .collect();
        for id in &gone {
            if let Some(c) = self.cells.remove(id) {
                self.cell_by_key.remove(&(c.route, c.key));
            }
        }
        self.cell_index.retain(|_, id| !gone.contains(id));
        // The horizon stops before a dirty cell still waiting to be reported.
        let oldest_dirty = self
            .dirty_cells
            .iter()
            .filter_map(|id| self.cells.get(id))
            .map(|c| c.instance_end)
            .min();
        let horizon = match oldest_dirty {
            Some(d) if d < t => d,
            _ => t,
        };
        self.coverage_final_before = Some(
            self.coverage_final_before
                .map_or(horizon, |f| f.max(horizon)),
        );
        gone.len()
    }
}
