//! `Engine::on_fix`, `Engine::tick`, device snapshots and daily summaries.

use crate::alert::{AlertKind, AlertTransition, Change};
use crate::device::{DeviceSnapshot, NO_CELL, TrackPoint};
use crate::engine::DayCache;
use crate::engine::Engine;
use crate::engine_place::Placement;
use crate::fix::Fix;
use crate::geodesy::local_distance_m;
use crate::ids::DeviceKey;
use crate::rules::{self, Active, Emitter, FixCtx};
use crate::rules_config::RuleParams;
use crate::summary::{Activity, DailySummary};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// The active assignment found for a device at an instant.
struct Found {
    asg: u32,
    area: u32,
    cal: u32,
    inside: bool,
    /// The rule parameters of the device in this assignment's area.
    params: RuleParams,
}

impl Engine {
    /// Active assignments of device `d` at `t_ms`: the primary one (first whose
    /// area contains the position, else first) and whether the position is
    /// inside any. The areas of all running assignments go to `scratch.active`.
    fn find_active(&mut self, d: u32, t_ms: i64, pos: Option<(f64, f64)>) -> Option<Found> {
        let mut best: Option<Found> = None;
        let mut active = std::mem::take(&mut self.scratch.active);
        active.clear();
        let n = self.devices[d as usize].assignments.len();
        for k in 0..n {
            let ai = self.devices[d as usize].assignments[k];
            let Some(link) = self.resolved[ai as usize] else {
                continue;
            };
            if !link.valid_at(t_ms) {
                continue;
            }
            let (area, cal) = (link.area, link.shift);
            let a = &self.assignments[ai as usize];
            let calendar = &mut self.calendars[cal as usize];
            calendar.ensure(t_ms);
            if calendar.find(t_ms).is_none() {
                continue;
            }
            if !active.contains(&area) {
                active.push(area);
            }
            let params = self.config.rules.resolve(
                self.devices[d as usize].kind,
                Some(&a.area),
                &self.dev_keys[d as usize],
            );
            let inside = pos.is_some_and(|(lon, lat)| {
                self.inside_with_margin(area, lon, lat, params.area_margin_m)
            });
            let f = Found {
                asg: ai,
                area,
                cal,
                inside,
                params,
            };
            match &best {
                None => best = Some(f),
                Some(b) if inside && !b.inside => best = Some(f),
                _ => {}
            }
        }
        self.scratch.active = active;
        best
    }

    /// Process one fix of a device (per-device arrival order). Updates coverage
    /// and the daily summary and returns the alert transitions it causes. A fix
    /// for an unknown device creates its state as kind `Unknown`. A late fix
    /// (older than the device's newest) feeds coverage only (and may open SOS).
    /// A fix with non-finite or out-of-range coordinates is ignored.
    pub fn on_fix(&mut self, device: &DeviceKey, fix: &Fix) -> Vec<AlertTransition> {
        let mut out = Vec::new();
        let valid = fix.lat.is_finite()
            && fix.lon.is_finite()
            && fix.lat.abs() <= 90.0
            && fix.lon.abs() <= 180.0;
        if !valid {
            // ingest validates fixes; an invalid one is ignored here rather than trusted
            return out;
        }
        let d = self.device_index(device);
        let kind = self.devices[d as usize].kind;
        let tp = TrackPoint::from_fix(fix, kind);
        let prev = self.devices[d as usize].newest();
        let in_order = prev.is_none_or(|p| tp.ts_ms > p.ts_ms);
        // the device's parameters outside any area, resolved once per fix
        let base = self.config.rules.resolve(kind, None, device);
        let inserted = self.feed_coverage(d, tp, &base);
        if !in_order {
            if inserted && fix.sos {
                self.late_sos(d, device, fix, tp.ts_ms, &mut out);
            }
            return out;
        }
        let speed_kmh = speed_kmh(fix, prev.as_ref(), tp.ts_ms);
        if let Some(p) = prev {
            self.add_to_summary(d, &p, &tp, speed_kmh, &base);
        }
        let found = self.find_active(d, tp.ts_ms, Some((fix.lon, fix.lat)));
        let rest = self.index.in_rest_zone(fix.lon, fix.lat);
        let st_kind = self.devices[d as usize].kind;
        // in the primary assignment's area, as `find_active` resolved them
        let params = found.as_ref().map_or(base, |f| f.params);
        let inside = found.as_ref().is_some_and(|f| f.inside);
        let areas = std::mem::take(&mut self.scratch.active);
        let placement = if found.is_some() {
            self.placement(st_kind, &areas, (inside, rest), (fix.lon, fix.lat), &params)
        } else {
            Placement {
                in_assigned: false,
                in_rest: rest,
                beyond_m: 0.0,
            }
        };
        self.scratch.active = areas;
        let active = found.as_ref().and_then(|f| {
            Some(Active {
                inst: self.calendars[f.cal as usize].find(tp.ts_ms)?,
                area: self.index.areas[f.area as usize].area.id(),
            })
        });
        let ctx = FixCtx {
            device,
            fix,
            params: &params,
            inside,
            placement,
            active,
            in_rest_zone: rest,
            speed_kmh,
            has_assignments: !self.devices[d as usize].assignments.is_empty(),
        };
        rules::on_fix(&mut self.devices[d as usize], &ctx, &mut out);
        if out.iter().any(|t| t.area.is_none()) {
            self.label_with_area_here(fix, &mut out);
        }
        out
    }

    /// A late fix with SOS pressed opens an SOS alert, unless one was opened
    /// at or after its time.
    fn late_sos(
        &mut self,
        d: u32,
        device: &DeviceKey,
        fix: &Fix,
        ts_ms: i64,
        out: &mut Vec<AlertTransition>,
    ) {
        let st = &mut self.devices[d as usize];
        if st.last_sos_open_ms.is_some_and(|t| ts_ms <= t) {
            return;
        }
        st.last_sos_open_ms = Some(ts_ms);
        let mut em = Emitter {
            device,
            lat: fix.lat,
            lon: fix.lon,
            reopen_within_ms: 0,
            out,
        };
        em.emit(
            st,
            AlertKind::Sos,
            Change::Open,
            ts_ms,
            None,
            None,
            "SOS pressed (late fix)".into(),
        );
    }

    /// Labels the alerts that are not about an assignment with the area the
    /// device is in.
    fn label_with_area_here(&self, fix: &Fix, out: &mut [AlertTransition]) {
        let here = self.index.first_containing(fix.lon, fix.lat);
        let here = here.map(|i| self.index.areas[i as usize].area.id().clone());
        for t in out.iter_mut().filter(|t| t.area.is_none()) {
            t.area = here.clone();
        }
    }

    /// `p`: the device's parameters outside any area.
    fn add_to_summary(
        &mut self,
        d: u32,
        a: &TrackPoint,
        b: &TrackPoint,
        speed_kmh: f64,
        p: &RuleParams,
    ) {
        let dt_s = (b.ts_ms - a.ts_ms) as f64 / 1000.0;
        let dist = self.scratch.distance_m(a.lon, a.lat, b.lon, b.lat);
        if dt_s <= 0.0 || dt_s > p.gap_max_s as f64 || dist > p.gap_max_m {
            return;
        }
        let activity = if a.work == Some(true) && b.work == Some(true) {
            Activity::Working
        } else if speed_kmh >= p.moving_min_kmh {
            Activity::Transit
        } else {
            Activity::Idle
        };
        let Some(date) = self.local_date(a.ts_ms) else {
            return;
        };
        let (summary, changed) = self.summaries.entry((d, date)).or_default();
        summary.add(activity, dist, dt_s);
        if !*changed {
            *changed = true;
            self.dirty_summaries.push((d, date));
        }
    }

    /// The org-local date of an instant, cached for the current day.
    fn local_date(&mut self, t_ms: i64) -> Option<NaiveDate> {
        if let Some(c) = self.day
            && c.lo_ms <= t_ms
            && t_ms < c.hi_ms
        {
            return Some(c.date);
        }
        let tz = self.config.tz;
        let date = DateTime::<Utc>::from_timestamp_millis(t_ms)?
            .with_timezone(&tz)
            .date_naive();
        let lo = crate::shift::local_to_utc(tz, date.and_time(NaiveTime::MIN)).timestamp_millis();
        let hi = crate::shift::local_to_utc(tz, date.succ_opt()?.and_time(NaiveTime::MIN))
            .timestamp_millis();
        if lo <= t_ms && t_ms < hi {
            self.day = Some(DayCache {
                lo_ms: lo,
                hi_ms: hi,
                date,
            });
        }
        Some(date)
    }

    /// Timer-driven rules at `now` (event time or watermark, supplied by the
    /// caller): `offline`, `late_start`, and clearing shift-bound alerts when a
    /// shift instance has ended.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<AlertTransition> {
        let mut out = Vec::new();
        let now_ms = now.timestamp_millis();
        for d in 0..self.devices.len() as u32 {
            let st = &self.devices[d as usize];
            if st.assignments.is_empty() && st.bound.is_none() {
                continue;
            }
            let last = st.newest().map(|p| (p.lon, p.lat));
            let found = self.find_active(d, now_ms, last);
            let key = &self.dev_keys[d as usize];
            let area_id = found
                .as_ref()
                .map(|f| &self.assignments[f.asg as usize].area);
            let params = self
                .config
                .rules
                .resolve(self.devices[d as usize].kind, area_id, key);
            let (lon, lat) = last.unwrap_or_else(|| {
                found
                    .as_ref()
                    .map_or((0.0, 0.0), |f| self.index.areas[f.area as usize].anchor())
            });
            let active = found.as_ref().and_then(|f| {
                Some(Active {
                    inst: self.calendars[f.cal as usize].find(now_ms)?,
                    area: self.index.areas[f.area as usize].area.id(),
                })
            });
            let mut em = Emitter {
                device: key,
                lat,
                lon,
                reopen_within_ms: params.reopen_within_s * 1000,
                out: &mut out,
            };
            crate::timers::on_tick(
                &mut self.devices[d as usize],
                active,
                &params,
                now_ms,
                &mut em,
            );
        }
        self.coverage_at_risk(now_ms);
        out
    }

    /// The device's state for persistence, if the engine knows the device.
    pub fn snapshot_device(&self, device: &DeviceKey) -> Option<DeviceSnapshot> {
        let &d = self.dev_ids.get(device)?;
        Some(DeviceSnapshot(self.devices[d as usize].clone()))
    }

    /// Restore a device's state after a restart. The registry's kind wins over the
    /// snapshot's (for a device the engine already knows); buffered fixes come back without their pending coverage links
    /// (restored coverage already holds their contribution).
    pub fn restore_device(&mut self, device: &DeviceKey, snapshot: DeviceSnapshot) {
        let known = self.dev_ids.contains_key(device);
        let d = self.device_index(device) as usize;
        let mut st = snapshot.0;
        st.assignments = std::mem::take(&mut self.devices[d].assignments);
        if known {
            st.kind = self.devices[d].kind;
        }
        for b in &mut st.buf {
            b.cell = NO_CELL;
        }
        if !self.many_cells.is_empty() {
            let d = d as u32;
            self.many_cells.retain(|&(dd, _), _| dd != d);
        }
        self.devices[d] = st;
    }

    /// The daily summary of a device on a local date (org time zone).
    pub fn daily_summary(&self, device: &DeviceKey, date: NaiveDate) -> Option<DailySummary> {
        let &d = self.dev_ids.get(device)?;
        self.summaries.get(&(d, date)).map(|e| e.0)
    }

    /// The (device, date) summaries changed since the last call, with their values.
    pub fn drain_dirty_summaries(&mut self) -> Vec<(DeviceKey, NaiveDate, DailySummary)> {
        let mut out = Vec::with_capacity(self.dirty_summaries.len());
        for (d, date) in self.dirty_summaries.drain(..) {
            if let Some((s, changed)) = self.summaries.get_mut(&(d, date))
                && std::mem::take(changed)
            {
                out.push((self.dev_keys[d as usize].clone(), date, *s));
            }
        }
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        out
    }

    /// Put back a summary saved before a restart (it is not marked dirty).
    pub fn restore_summary(&mut self, device: &DeviceKey, date: NaiveDate, summary: DailySummary) {
        let d = self.device_index(device);
        self.summaries
            .entry((d, date))
            .and_modify(|e| e.0 = summary)
            .or_insert((summary, false));
    }

    /// Forget summaries of local dates before `date`; returns how many.
    pub fn drop_summaries_before(&mut self, date: NaiveDate) -> usize {
        let before = self.summaries.len();
        self.summaries.retain(|(_, d), _| *d >= date);
        self.dirty_summaries.retain(|(_, d)| *d >= date);
        before - self.summaries.len()
    }
}

/// The fix's speed: as reported, else from the previous fix (0 without one).
fn speed_kmh(fix: &Fix, prev: Option<&TrackPoint>, ts_ms: i64) -> f64 {
    match (fix.speed_kmh, prev) {
        (Some(s), _) => s,
        (None, Some(p)) if ts_ms > p.ts_ms => {
            local_distance_m(p.lon, p.lat, fix.lon, fix.lat) / ((ts_ms - p.ts_ms) as f64 / 1000.0)
                * 3.6
        }
        _ => 0.0,
    }
}
