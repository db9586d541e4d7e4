//! A device's program for a shift: which streets it drives (or which loop it walks),
//! in which order, at which speeds, built from its assigned areas.

use geofence::{DeviceKind, ZonePurpose};

use super::geom::{P, Shape, closest_on_polyline, dist, shrunk_loop};
use super::rng::Rng;
use super::walker::Step;

/// How a device moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Working speed, km/h.
    pub work_kmh: f64,
    /// Speed between work areas (not working), km/h.
    pub transit_kmh: f64,
    /// Typical reported accuracy, metres.
    pub acc_m: f64,
}

impl Profile {
    /// Per-device speeds within the kind's band (sweeper 5-10 km/h, washer 8-15,
    /// collector 10-20, worker 3-4; transit 20-30 km/h, workers walk at 4).
    pub fn pick(kind: DeviceKind, rng: &mut Rng) -> Self {
        let (lo, hi, acc) = match kind {
            DeviceKind::Sweeper => (5.0, 10.0, 4.0),
            DeviceKind::Washer => (8.0, 15.0, 4.0),
            DeviceKind::Collector => (10.0, 20.0, 5.0),
            DeviceKind::Worker => (3.0, 4.0, 8.0),
            DeviceKind::Unknown => (10.0, 20.0, 6.0),
        };
        let transit = if kind == DeviceKind::Worker {
            4.0
        } else {
            rng.range(20.0, 30.0)
        };
        Self {
            work_kmh: rng.range(lo, hi),
            transit_kmh: transit,
            acc_m: acc,
        }
    }
}

/// Minutes a collector spends unloading at a transfer station.
const UNLOAD_SECS: f64 = 240.0;
/// Speed into and out of a transfer station, km/h.
const YARD_KMH: f64 = 10.0;

/// An assigned area as the program sees it.
pub struct Assigned<'a> {
    pub shape: &'a Shape,
    pub purpose: Option<ZonePurpose>,
}

/// The start point and the cyclic program for `areas`.
pub fn build(
    kind: DeviceKind,
    areas: &[Assigned<'_>],
    prof: Profile,
    rng: &mut Rng,
) -> (P, Vec<Step>) {
    let routes: Vec<&[P]> = areas
        .iter()
        .filter_map(|a| match a.shape {
            Shape::Line(pts) if pts.len() >= 2 => Some(pts.as_slice()),
            _ => None,
        })
        .collect();
    let stations: Vec<P> = areas
        .iter()
        .filter(|a| a.purpose == Some(ZonePurpose::TransferStation) && !routes.is_empty())
        .map(|a| a.shape.centre())
        .collect();
    let loops: Vec<Vec<P>> = areas
        .iter()
        .filter(|a| matches!(a.shape, Shape::Ring(_)))
        .filter(|a| a.purpose != Some(ZonePurpose::TransferStation) || routes.is_empty())
        .map(|a| {
            let f = if kind == DeviceKind::Worker {
                rng.range(0.25, 0.9)
            } else {
                0.8
            };
            let mut l = shrunk_loop(a.shape.points(), f);
            let k = rng.below(l.len());
            l.rotate_left(k);
            l
        })
        .collect();

    let mut steps = Vec::new();
    let work = |to: P| Step::Move {
        to,
        kmh: prof.work_kmh,
        work: true,
    };
    for (i, route) in routes.iter().enumerate() {
        let mut stops: Vec<(usize, P, P)> = stations
            .iter()
            .filter(|s| nearest_route(&routes, **s) == i)
            .map(|&s| {
                let (seg, at) = closest_on_polyline(route, s);
                (seg, at, s)
            })
            .collect();
        stops.sort_by(|a, b| {
            (a.0, dist(route[a.0], a.1))
                .partial_cmp(&(b.0, dist(route[b.0], b.1)))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        // out along the street, with any unloading stops on the way
        for (seg, next) in route.iter().skip(1).enumerate() {
            for &(_, at, station) in stops.iter().filter(|s| s.0 == seg) {
                steps.push(work(at));
                let yard = |to: P| Step::Move {
                    to,
                    kmh: YARD_KMH,
                    work: false,
                };
                steps.push(yard(station));
                steps.push(Step::Dwell {
                    secs: UNLOAD_SECS,
                    work: false,
                });
                steps.push(yard(at));
            }
            steps.push(work(*next));
        }
        // and back: a second pass on the other side of the street
        for p in route.iter().rev().skip(1) {
            steps.push(work(*p));
        }
        let next_start = routes.get(i + 1).or(routes.first()).map(|r| r[0]);
        if let Some(to) = next_start {
            transit(&mut steps, route[0], to, prof.transit_kmh);
        }
    }
    for lp in &loops {
        let walk = |to: P| Step::Move {
            to,
            kmh: prof.work_kmh,
            work: true,
        };
        if let Some(first) = lp.first() {
            if !steps.is_empty() || !routes.is_empty() {
                steps.push(Step::Move {
                    to: *first,
                    kmh: prof.transit_kmh,
                    work: false,
                });
            }
            steps.extend(lp.iter().skip(1).map(|p| walk(*p)));
            steps.push(walk(*first));
        }
    }
    let start = routes
        .first()
        .map(|r| r[0])
        .or_else(|| loops.first().and_then(|l| l.first().copied()))
        .unwrap_or([0.0, 0.0]);
    if steps.is_empty() {
        steps.push(Step::Dwell {
            secs: 3600.0,
            work: false,
        });
    }
    (start, steps)
}

fn nearest_route(routes: &[&[P]], p: P) -> usize {
    let mut best = (0, f64::INFINITY);
    for (i, r) in routes.iter().enumerate() {
        let d = dist(closest_on_polyline(r, p).1, p);
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// Along the street grid: first east-west, then north-south, broom up.
fn transit(steps: &mut Vec<Step>, from: P, to: P, kmh: f64) {
    if dist(from, to) < 1.0 {
        return;
    }
    let corner = [to[0], from[1]];
    for p in [corner, to] {
        steps.push(Step::Move {
            to: p,
            kmh,
            work: false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::walker::Walker;

    #[test]
    fn a_collector_drives_its_route_and_unloads_at_the_station() {
        let route = Shape::Line(vec![[0.0, 0.0], [1000.0, 0.0]]);
        let station = Shape::Ring(vec![
            [480.0, 30.0],
            [520.0, 30.0],
            [520.0, 60.0],
            [480.0, 60.0],
        ]);
        let areas = [
            Assigned {
                shape: &route,
                purpose: None,
            },
            Assigned {
                shape: &station,
                purpose: Some(ZonePurpose::TransferStation),
            },
        ];
        let prof = Profile {
            work_kmh: 18.0,
            transit_kmh: 25.0,
            acc_m: 5.0,
        };
        let (start, steps) = build(DeviceKind::Collector, &areas, prof, &mut Rng::new(3));
        assert_eq!(start, [0.0, 0.0]);
        assert!(steps.contains(&Step::Dwell {
            secs: UNLOAD_SECS,
            work: false
        }));
        let mut w = Walker::new(start, steps);
        // 500 m at 5 m/s, then 45 m to the station centre at 10 km/h
        let m = w.advance(100.0 + 45.0 / (10.0 / 3.6) + 10.0);
        assert!(dist(m.pos, [500.0, 45.0]) < 1e-6 && !m.work, "{m:?}");
    }

    #[test]
    fn a_worker_walks_a_loop_inside_its_beat() {
        let beat = Shape::Ring(vec![[0.0, 0.0], [400.0, 0.0], [400.0, 300.0], [0.0, 300.0]]);
        let prof = Profile::pick(DeviceKind::Worker, &mut Rng::new(1));
        let (start, steps) = build(
            DeviceKind::Worker,
            &[Assigned {
                shape: &beat,
                purpose: Some(ZonePurpose::Beat),
            }],
            prof,
            &mut Rng::new(9),
        );
        let mut w = Walker::new(start, steps);
        for _ in 0..500 {
            let m = w.advance(10.0);
            assert!((0.0..=400.0).contains(&m.pos[0]) && (0.0..=300.0).contains(&m.pos[1]));
            assert!(m.work && (3.0..=4.0).contains(&m.kmh));
        }
    }
}
