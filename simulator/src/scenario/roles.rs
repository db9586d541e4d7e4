//! Which devices show which behaviour: picked by the seed, preferring devices on shift
//! at the start, each device one role while there are enough of them, and each role
//! to a device that can show it (a worker for an SOS, a sweeper with two routes to
//! skip one, a vehicle off shift to work off shift).

use std::time::Duration;

use chrono::TimeDelta;
use geofence::DeviceKind;

use super::geom::Shape;
use super::planner::Planner;
use super::rng::Rng;

impl Planner {
    /// Picks, by the seed, which devices show which behaviour: preferring devices on
    /// shift at the start, each device one role while there are enough of them.
    #[expect(
        clippy::too_many_lines,
        reason = "one pass handing out every role with the same picker and the same seeded order, so a seed gives the same roles; the roles are a list of short cases"
    )]
    pub(super) fn give_roles(&mut self, seed: u64, duration: TimeDelta) {
        let b = self.ctx.behaviours.clone();
        let start = self.start;
        let at = |d: Duration| start + TimeDelta::from_std(d).unwrap_or_default();
        let span = |a: Duration, d: Duration| (at(a), at(a + d));
        let mut rng = Rng::derive(seed, "roles");
        let mut order: Vec<usize> = (0..self.devices.len()).collect();
        rng.shuffle(&mut order);
        let ctx = &self.ctx;
        let on_shift: Vec<bool> = self
            .devices
            .iter()
            .map(|d| d.instance_at(ctx, start).is_some())
            .collect();
        let kinds: Vec<DeviceKind> = self.devices.iter().map(|d| d.kind()).collect();
        let routes: Vec<usize> = self
            .devices
            .iter()
            .map(|d| match d.instance_at(ctx, start) {
                Some((shift, _)) => d
                    .areas_of(shift, start)
                    .into_iter()
                    .filter(|&a| matches!(ctx.shapes[a], Shape::Line(_)))
                    .count(),
                None => 0,
            })
            .collect();
        let (off_from, off_to) = span(b.off_shift.at, b.off_shift.duration);
        let off_all_along: Vec<bool> = self
            .devices
            .iter()
            .map(|d| {
                let mut t = off_from;
                while t <= off_to {
                    if d.instance_at(ctx, t).is_some() {
                        return false;
                    }
                    t += TimeDelta::minutes(1);
                }
                d.has_assignments()
            })
            .collect();
        let mut used = vec![false; self.devices.len()];
        // unused and on shift; unused; then (a small selection) any on shift. Roles
        // that need a device off shift look at the fit alone.
        let mut pick = |fit: &dyn Fn(usize) -> bool, want_on_shift: bool| -> Option<usize> {
            for pass in 0..3 {
                for &i in &order {
                    let ok = match pass {
                        0 => !used[i] && (on_shift[i] || !want_on_shift),
                        1 => !used[i],
                        _ => on_shift[i] || !want_on_shift,
                    };
                    if fit(i) && ok {
                        used[i] = true;
                        return Some(i);
                    }
                }
            }
            None
        };
        let worker = |i: usize| kinds[i] == DeviceKind::Worker;
        let vehicle = |i: usize| kinds[i] != DeviceKind::Worker;
        let sweeps = |i: usize| matches!(kinds[i], DeviceKind::Sweeper | DeviceKind::Washer);
        let any = |_: usize| true;
        let mut roles: Vec<(usize, Role)> = Vec::new();
        let mut add = |role: Role, i: Option<usize>| roles.extend(i.map(|i| (i, role)));
        if b.sos.enabled {
            add(Role::Sos, pick(&worker, true));
        }
        if b.late_start.enabled {
            for _ in 0..b.late_start.devices {
                add(Role::Late, pick(&vehicle, true));
            }
        }
        if b.idle.enabled {
            add(Role::Idle(b.idle.worker), pick(&worker, true));
            add(Role::Idle(b.idle.vehicle), pick(&vehicle, true));
        }
        if b.leave_area.enabled {
            add(Role::Leave, pick(&worker, true));
        }
        if b.dropout.enabled {
            for _ in 0..b.dropout.devices {
                add(Role::Dropout, pick(&vehicle, true));
            }
        }
        if b.backlog.enabled {
            for _ in 0..b.backlog.devices {
                add(Role::Backlog, pick(&vehicle, true));
            }
        }
        if b.silent.enabled {
            for _ in 0..b.silent.devices {
                add(Role::Silent, pick(&any, true));
            }
        }
        if b.take_away.enabled {
            add(Role::TakeAway, pick(&vehicle, true));
        }
        if b.off_route.enabled {
            add(Role::OffRoute, pick(&sweeps, true));
        }
        if b.speeding.enabled {
            add(Role::Speeding, pick(&vehicle, true));
        }
        if b.off_shift.enabled {
            add(
                Role::OffShift,
                pick(&|i| vehicle(i) && off_all_along[i], false),
            );
        }
        if b.skip_route.enabled {
            for _ in 0..b.skip_route.devices {
                add(Role::Skip, pick(&|i| sweeps(i) && routes[i] >= 2, true));
            }
        }
        if b.traffic_jam.enabled {
            add(Role::Jam, pick(&vehicle, true));
        }
        if b.edge.enabled {
            add(Role::Edge, pick(&vehicle, true));
            add(Role::Edge, pick(&worker, true));
        }
        for (i, role) in roles {
            let r = &mut self.devices[i].roles;
            match role {
                Role::Late if b.late_start.dark => r.dark_until = Some(at(b.late_start.delay)),
                Role::Late => {
                    r.late = Some(TimeDelta::from_std(b.late_start.delay).unwrap_or_default())
                }
                Role::Idle(d) => r.idle = Some((at(b.idle.at), d.as_secs_f64())),
                Role::Leave => r.leave_at = Some(at(b.leave_area.at)),
                Role::Sos => r.sos_at = Some(at(b.sos.at)),
                Role::Dropout => r.dropout = Some(span(b.dropout.at, b.dropout.gap)),
                Role::Backlog => r.backlog = Some(span(b.backlog.at, b.backlog.gap)),
                Role::Silent => r.silent_from = Some(at(b.silent.at)),
                Role::TakeAway => r.take_away_at = Some(at(b.take_away.at)),
                Role::OffRoute => r.off_route_at = Some(at(b.off_route.at)),
                Role::Speeding => r.speeding_at = Some(at(b.speeding.at)),
                Role::OffShift => r.off_shift = Some((off_from, off_to)),
                Role::Skip => r.skip_route = true,
                Role::Jam => r.jam_at = Some(at(b.traffic_jam.at)),
                Role::Edge => r.edge_at = Some(at(b.edge.at)),
            }
        }
        if b.malformed.enabled {
            // On devices that keep publishing, spread evenly over the run.
            let ok: Vec<usize> = (0..self.devices.len())
                .filter(|&i| {
                    let r = &self.devices[i].roles;
                    on_shift[i]
                        && r.late.is_none()
                        && r.dark_until.is_none()
                        && r.silent_from.is_none()
                })
                .collect();
            let n = b.malformed.count;
            for k in 0..n {
                if ok.is_empty() {
                    break;
                }
                let i = ok[rng.below(ok.len())];
                let when = start + duration * (k as i32 + 1) / (n as i32 + 1);
                self.devices[i].roles.malformed.push((when, k as usize));
            }
        }
    }
}

enum Role {
    Late,
    Idle(Duration),
    Leave,
    Sos,
    Dropout,
    Backlog,
    Silent,
    TakeAway,
    OffRoute,
    Speeding,
    OffShift,
    Skip,
    Jam,
    Edge,
}
