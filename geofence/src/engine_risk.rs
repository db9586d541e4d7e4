//! `coverage_at_risk`: a route's coverage in the running shift instance is
//! below `coverage_at_risk_share` when `coverage_at_risk_before_s` of the
//! instance remains. Raised once per route and instance (at that deadline,
//! like the other timers), for the route, not a device: the dispatcher can
//! still send a second sweeper. Cleared when the route reaches the share, or
//! when the instance ends. Evaluated by `Engine::tick`.

use std::sync::Arc;

use crate::alert::{AlertKind, Change, RouteAlert};
use crate::engine::Engine;
use crate::rules::ts;
use crate::shift::ShiftInstance;

/// Where a (route, instance) stands.
#[derive(Debug, Clone)]
pub(crate) enum Risk {
    /// Reached the share before (or at) the deadline: nothing to raise.
    Safe,
    /// Raised; `open` until the route reaches the share or the instance ends.
    Raised {
        open: bool,
        inst: Arc<ShiftInstance>,
    },
}

impl Engine {
    /// Raises and clears `coverage_at_risk` at `now_ms` (event time).
    pub(crate) fn coverage_at_risk(&mut self, now_ms: i64) {
        self.close_ended_risks(now_ms);
        let routes: Vec<u32> = self.route_shifts.keys().copied().collect();
        for ri in routes {
            let links = self.route_shifts.get(&ri).cloned().unwrap_or_default();
            for link in links {
                if !link.valid_at(now_ms) {
                    continue;
                }
                let cal = &mut self.calendars[link.shift as usize];
                cal.ensure(now_ms);
                let Some(inst) = cal.find(now_ms).cloned() else {
                    continue;
                };
                self.check_route(ri, &inst, now_ms);
            }
        }
    }

    fn check_route(&mut self, ri: u32, inst: &Arc<ShiftInstance>, now_ms: i64) {
        let key = (ri, inst.key());
        if matches!(
            self.at_risk.get(&key),
            Some(Risk::Safe | Risk::Raised { open: false, .. })
        ) {
            return;
        }
        let route = self.index.areas[ri as usize].area.id().clone();
        let p = self.config.rules.resolve_route(&route);
        let deadline = inst.end.timestamp_millis() - p.coverage_at_risk_before_s * 1000;
        if now_ms < deadline {
            return;
        }
        let fraction = self.covered_fraction(ri, inst);
        let open = matches!(
            self.at_risk.get(&key),
            Some(Risk::Raised { open: true, .. })
        );
        if fraction >= p.coverage_at_risk_share {
            if open {
                let msg = format!(
                    "coverage reached {:.0} % (target {:.0} %)",
                    fraction * 100.0,
                    p.coverage_at_risk_share * 100.0
                );
                self.route_alert(ri, inst, Change::Clear, now_ms, fraction, msg);
                self.at_risk.insert(
                    key,
                    Risk::Raised {
                        open: false,
                        inst: inst.clone(),
                    },
                );
            } else {
                self.at_risk.insert(key, Risk::Safe);
            }
            return;
        }
        if !open && !self.route_is_swept(ri, now_ms) {
            // Assigned only to devices that do not sweep routes (collectors,
            // cleaners crossing it): nobody's coverage to be behind on.
            self.at_risk.insert(key, Risk::Safe);
            return;
        }
        if !open {
            let msg = format!(
                "coverage {:.0} % with {} min of the shift left (target {:.0} %): send help \
                 while there is time",
                fraction * 100.0,
                p.coverage_at_risk_before_s / 60,
                p.coverage_at_risk_share * 100.0
            );
            self.route_alert(ri, inst, Change::Open, deadline, fraction, msg);
            // A route nobody touched has no coverage yet: record its 0 %, so the
            // alert's coverage view and the shift report show the whole route missed.
            self.ensure_cell(ri, inst);
            self.at_risk.insert(
                key,
                Risk::Raised {
                    open: true,
                    inst: inst.clone(),
                },
            );
        }
    }

    /// Clears the open alerts of instances that have ended; forgets
    /// instances that ended more than a day ago.
    fn close_ended_risks(&mut self, now_ms: i64) {
        let ended: Vec<_> = self
            .at_risk
            .iter()
            .filter_map(|(k, r)| match r {
                Risk::Raised { open: true, inst } if inst.end.timestamp_millis() <= now_ms => {
                    Some((k.clone(), inst.clone()))
                }
                _ => None,
            })
            .collect();
        for ((ri, key), inst) in ended {
            let fraction = self.covered_fraction(ri, &inst);
            let end = inst.end.timestamp_millis();
            let msg = format!("shift instance ended at {:.0} % coverage", fraction * 100.0);
            self.route_alert(ri, &inst, Change::Clear, end, fraction, msg);
            self.at_risk
                .insert((ri, key), Risk::Raised { open: false, inst });
        }
        let day = 24 * 3600 * 1000;
        self.at_risk.retain(|(_, k), r| match r {
            Risk::Raised { inst, .. } => inst.end.timestamp_millis() + day > now_ms,
            Risk::Safe => {
                // Safe entries carry no instance: keep them while their local date is recent.
                let date_ms = k
                    .local_date
                    .and_hms_opt(0, 0, 0)
                    .map_or(i64::MAX, |d| d.and_utc().timestamp_millis());
                date_ms + 3 * day > now_ms
            }
        });
    }

    /// Whether a device that sweeps routes is assigned route `ri` at `t_ms`.
    fn route_is_swept(&self, ri: u32, t_ms: i64) -> bool {
        let route = self.index.areas[ri as usize].area.id();
        self.assignments
            .iter()
            .zip(&self.resolved)
            .filter(|(_, l)| l.is_some_and(|l| l.area == ri && l.valid_at(t_ms)))
            .any(|(a, _)| {
                let kind = self
                    .dev_ids
                    .get(&a.device)
                    .map_or(crate::fix::DeviceKind::Unknown, |&d| {
                        self.devices[d as usize].kind
                    });
                self.config
                    .rules
                    .resolve(kind, Some(route), &a.device)
                    .sweeps_routes
            })
    }

    /// The coverage cell of route `ri` in `inst`, created (empty, dirty) if missing.
    fn ensure_cell(&mut self, ri: u32, inst: &ShiftInstance) {
        let route = self.index.areas[ri as usize].area.id().clone();
        if self.cell_by_key.contains_key(&(route.clone(), inst.key())) {
            return;
        }
        let Some(total) = self.index.areas[ri as usize].route().map(|r| r.total()) else {
            return;
        };
        let Some(&s) = self.shift_ids.get(&inst.shift_id) else {
            return;
        };
        let id = self.next_cell;
        self.next_cell += 1;
        let cell = crate::coverage::Cell::new(route.clone(), inst.key(), inst.end, total);
        self.cell_by_key.insert((route, inst.key()), id);
        self.cells.insert(id, cell);
        self.cell_index.insert((ri, s, inst.local_date), id);
        self.dirty_cells.insert(id);
    }

    /// The covered share of route `ri` in `inst` (0 when nothing was recorded).
    fn covered_fraction(&self, ri: u32, inst: &ShiftInstance) -> f64 {
        let route = self.index.areas[ri as usize].area.id();
        let Some(id) = self.cell_by_key.get(&(route.clone(), inst.key())) else {
            return 0.0;
        };
        let Some(cell) = self.cells.get(id) else {
            return 0.0;
        };
        if cell.total_m <= 0.0 {
            return 1.0;
        }
        (cell.covered().measure() / cell.total_m).clamp(0.0, 1.0)
    }

    fn route_alert(
        &mut self,
        ri: u32,
        inst: &ShiftInstance,
        change: Change,
        at_ms: i64,
        fraction: f64,
        message: String,
    ) {
        let ca = &self.index.areas[ri as usize];
        let (lon, lat) = ca.anchor();
        self.route_alerts.push(RouteAlert {
            route: ca.area.id().clone(),
            kind: AlertKind::CoverageAtRisk,
            change,
            at: ts(at_ms),
            lat,
            lon,
            shift_instance: inst.clone(),
            fraction,
            message,
        });
    }
}
