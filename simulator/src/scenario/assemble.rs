//! The run's ground truth from what every device observed, put together as the
//! rules see it:
//!
//! - a condition that recurs on a device within `reopen_within_s` of its end is one
//!   case (the service re-opens the case): its spans are merged;
//! - `coverage_at_risk` is planted wherever a route in scope is behind an hour (the
//!   rule's `coverage_at_risk_before_s`) before its shift instance ends, whatever the
//!   cause: a skipped route, a silent or late device;
//! - spans end at the run's end at the latest.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use geofence::{AlertKind, AreaId, RuleConfig, ShiftInstance};

use super::device::{Ctx, DeviceSim};
use super::observe::instance_ref;
use super::swept::{covered, length};
use crate::quality::{Planted, RunInfo, Truth};

/// The truth of a run.
pub fn truth(
    run: &RunInfo,
    devices: &[DeviceSim],
    ctx: &Ctx,
    rules: &RuleConfig,
    route_shifts: &[(usize, usize)],
) -> Truth {
    let mut troubles = Vec::new();
    let mut non_troubles = Vec::new();
    for d in devices {
        troubles.extend(merge_recurrences(
            d.obs.troubles.clone(),
            TimeDelta::seconds(d.params.reopen_within_s),
        ));
        non_troubles.extend(d.obs.non_troubles.iter().cloned());
    }
    troubles.extend(routes_at_risk(run, devices, ctx, rules, route_shifts));
    for p in troubles.iter_mut().chain(non_troubles.iter_mut()) {
        p.to = p.to.min(run.end);
    }
    let order = |a: &Planted, b: &Planted| {
        (a.from, &a.device, &a.route).cmp(&(b.from, &b.device, &b.route))
    };
    troubles.sort_by(order);
    non_troubles.sort_by(order);
    Truth {
        run: run.clone(),
        troubles,
        non_troubles,
    }
}

/// One device's troubles, with those of a kind that recur within `within` of the
/// last one's end merged into it.
fn merge_recurrences(mut list: Vec<Planted>, within: TimeDelta) -> Vec<Planted> {
    list.sort_by_key(|p| p.from);
    let mut out: Vec<Planted> = Vec::new();
    for p in list {
        let last = out
            .iter_mut()
            .rev()
            .find(|q| q.kind == p.kind && q.route == p.route);
        match last {
            Some(q) if p.kind != Some(AlertKind::Sos) && p.from - q.to <= within => {
                q.to = q.to.max(p.to);
                if q.behaviour != p.behaviour {
                    q.behaviour = format!("{}+{}", q.behaviour, p.behaviour);
                }
                let more = format!("recurred {}", p.from.format("%H:%M:%S"));
                q.note = if q.note.is_empty() {
                    more
                } else {
                    format!("{}; {more}", q.note)
                };
            }
            _ => out.push(p),
        }
    }
    out
}

/// When a stretch of a route was swept, and from and to where (metres along it).
type Stretch = (DateTime<Utc>, f64, f64);

/// Routes behind when their `coverage_at_risk` deadline comes, in shift instances
/// that the run saw from their start.
fn routes_at_risk(
    run: &RunInfo,
    devices: &[DeviceSim],
    ctx: &Ctx,
    rules: &RuleConfig,
    route_shifts: &[(usize, usize)],
) -> Vec<Planted> {
    let mut stretches: HashMap<(usize, &ShiftInstance), Vec<Stretch>> = HashMap::new();
    for d in devices {
        for p in &d.passes {
            stretches
                .entry((p.route, &p.inst))
                .or_default()
                .push((p.at, p.from_m, p.to_m));
        }
    }
    let mut out = Vec::new();
    for &(route, shift) in route_shifts {
        let Ok(id) = AreaId::new(ctx.ids[route].clone()) else {
            continue;
        };
        let p = rules.resolve_route(&id);
        let instances = ctx.shifts[shift].instances_overlapping(run.start, run.end);
        for inst in instances {
            let deadline = inst.end - TimeDelta::seconds(p.coverage_at_risk_before_s);
            if inst.start < run.start || deadline > run.end {
                continue;
            }
            let done: Vec<(f64, f64)> = stretches
                .get(&(route, &inst))
                .map(|v| {
                    v.iter()
                        .filter(|s| s.0 <= deadline)
                        .map(|s| (s.1, s.2))
                        .collect()
                })
                .unwrap_or_default();
            let total = length(ctx.shapes[route].points());
            let fraction = if total > 0.0 {
                covered(done) / total
            } else {
                1.0
            };
            if fraction >= p.coverage_at_risk_share {
                continue;
            }
            let skipper = devices
                .iter()
                .find(|d| d.skipped.iter().any(|(r, i)| *r == route && *i == inst));
            let assigned = devices.iter().find(|d| d.works_route(route, shift));
            out.push(Planted {
                kind: Some(AlertKind::CoverageAtRisk),
                device: skipper.or(assigned).map(|d| d.id.clone()),
                route: Some(ctx.ids[route].clone()),
                shift: Some(instance_ref(&inst)),
                from: inst.start,
                to: inst.end,
                behaviour: if skipper.is_some() {
                    "skip_route".into()
                } else {
                    "unswept".into()
                },
                note: format!(
                    "{:.0} % swept by {}",
                    fraction * 100.0,
                    deadline.format("%H:%M:%S")
                ),
            });
        }
    }
    out
}
