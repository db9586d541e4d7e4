//! A device's program for a shift: which streets it drives (or which loop it walks),
//! in which order, at which speeds, built from its assigned areas.

use geofence::{DeviceKind, ZonePurpose};

use super::geom::{P, Shape, closest_on_polyline, dist, lerp, shrunk_loop};
use super::reach::WorkingArea;
use super::rng::Rng;
use super::walker::{Leg, Step, Tag};

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

/// A collector's stop at a transfer station: queueing with the compactor off, then
/// unloading with it running (so a supervisor sees a truck at work, not idle).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StationStop {
    pub queue_s: f64,
    pub unload_s: f64,
}

/// An assigned area as the program sees it.
pub struct Assigned<'a> {
    /// Index of the area in the scenario.
    pub index: u32,
    pub shape: &'a Shape,
    pub purpose: Option<ZonePurpose>,
}

/// What shapes a program besides the areas.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// Collectors stop at their transfer stations (`None`: they do not).
    pub stations: Option<StationStop>,
    /// This route (an area index) is left out: nobody sweeps it.
    pub skip: Option<u32>,
    /// The working area: transits take the way that stays in it.
    pub working_area: Option<&'a WorkingArea>,
}

/// The start point and the cyclic program for `areas`.
///
/// Vehicles drive each route out and back, working, then on to the next one along
/// the street grid, not working. A collector with transfer stations drives from the
/// end of each route to one of them (in turn, the next route's first), waits there
/// and goes on to the next route: that whole trip is tagged [`Tag::TransferTrip`].
/// Workers (and vehicles with zones) walk or circle a loop shrunk inside each zone.
#[expect(
    clippy::too_many_lines,
    reason = "a vehicle's day as one itinerary (routes, transfer trips, stations, zones) built in order; the legs refer to the previous ones"
)]
pub fn build(
    kind: DeviceKind,
    areas: &[Assigned<'_>],
    prof: Profile,
    rng: &mut Rng,
    opts: Options<'_>,
) -> (P, Vec<Leg>) {
    let way = Way {
        routes: Vec::new(),
        working_area: opts.working_area,
    };
    let routes: Vec<&[P]> = areas
        .iter()
        .filter(|a| Some(a.index) != opts.skip)
        .filter_map(|a| match a.shape {
            Shape::Line(pts) if pts.len() >= 2 => Some(pts.as_slice()),
            _ => None,
        })
        .collect();
    let way = Way {
        routes: routes.clone(),
        ..way
    };
    let has_routes = areas.iter().any(|a| matches!(a.shape, Shape::Line(_)));
    let stations: Vec<(u32, P)> = areas
        .iter()
        .filter(|a| a.purpose == Some(ZonePurpose::TransferStation) && has_routes)
        .map(|a| (a.index, a.shape.centre()))
        .collect();
    let loops: Vec<Vec<P>> = areas
        .iter()
        .filter(|a| matches!(a.shape, Shape::Ring(_)))
        .filter(|a| a.purpose != Some(ZonePurpose::TransferStation) || !has_routes)
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

    let mut steps: Vec<Leg> = Vec::new();
    let work = |to: P| {
        (
            Step::Move {
                to,
                kmh: prof.work_kmh,
                work: true,
            },
            Tag::Work,
        )
    };
    for (i, route) in routes.iter().enumerate() {
        // out along the street, and back: a second pass on the other side
        steps.extend(route.iter().skip(1).map(|p| work(*p)));
        steps.extend(route.iter().rev().skip(1).map(|p| work(*p)));
        let next_start = routes.get(i + 1).or(routes.first()).map(|r| r[0]);
        let station = match opts.stations {
            Some(stop) if !stations.is_empty() => Some((stations[(i + 1) % stations.len()], stop)),
            _ => None,
        };
        match (station, next_start) {
            (Some(((id, at), stop)), Some(to)) => {
                let tag = Tag::TransferTrip(id);
                way.transit(&mut steps, route[0], at, prof.transit_kmh, tag);
                for (secs, work) in [(stop.queue_s, false), (stop.unload_s, true)] {
                    if secs > 0.0 {
                        steps.push((Step::Dwell { secs, work }, tag));
                    }
                }
                way.transit(&mut steps, at, to, prof.transit_kmh, tag);
            }
            (None, Some(to)) => {
                way.transit(&mut steps, route[0], to, prof.transit_kmh, Tag::Transit)
            }
            (_, None) => {}
        }
    }
    for lp in &loops {
        if let Some(first) = lp.first() {
            if !steps.is_empty() || !routes.is_empty() {
                steps.push((
                    Step::Move {
                        to: *first,
                        kmh: prof.transit_kmh,
                        work: false,
                    },
                    Tag::Transit,
                ));
            }
            steps.extend(lp.iter().skip(1).map(|p| work(*p)));
            steps.push(work(*first));
        }
    }
    let start = routes
        .first()
        .map(|r| r[0])
        .or_else(|| loops.first().and_then(|l| l.first().copied()))
        .unwrap_or([0.0, 0.0]);
    if steps.is_empty() {
        steps.push((
            Step::Dwell {
                secs: 3600.0,
                work: false,
            },
            Tag::Transit,
        ));
    }
    (start, steps)
}

/// How a device gets from one place to another.
struct Way<'a> {
    routes: Vec<&'a [P]>,
    working_area: Option<&'a WorkingArea>,
}

impl Way<'_> {
    /// Along the street grid, not working: one leg east-west and one north-south. A
    /// driver turns where the way stays in the working area (the street towards the
    /// next route, not one parallel to it half a kilometre off), else on its own
    /// streets.
    fn transit(&self, steps: &mut Vec<Leg>, from: P, to: P, kmh: f64, tag: Tag) {
        if dist(from, to) < 1.0 {
            return;
        }
        let near = |p: P| {
            self.routes
                .iter()
                .map(|r| dist(closest_on_polyline(r, p).1, p))
                .fold(f64::INFINITY, f64::min)
        };
        let astray = |corner: P| {
            let Some(wa) = self.working_area else {
                return 0.0;
            };
            [(from, corner), (corner, to)]
                .iter()
                .map(|&(a, b)| {
                    let n = (dist(a, b) / 20.0).ceil().max(1.0) as usize;
                    (0..=n)
                        .map(|k| wa.beyond(lerp(a, b, k as f64 / n as f64)))
                        .sum::<f64>()
                })
                .sum::<f64>()
        };
        let (a, b) = ([to[0], from[1]], [from[0], to[1]]);
        let key = |c: P| (astray(c), near(c));
        let corner = if key(b) < key(a) { b } else { a };
        for p in [corner, to] {
            steps.push((
                Step::Move {
                    to: p,
                    kmh,
                    work: false,
                },
                tag,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::walker::Walker;

    #[test]
    fn a_collector_drives_its_route_then_waits_and_unloads_at_the_station() {
        let route = Shape::Line(vec![[0.0, 0.0], [1000.0, 0.0]]);
        let station = Shape::Ring(vec![
            [480.0, 30.0],
            [520.0, 30.0],
            [520.0, 60.0],
            [480.0, 60.0],
        ]);
        let areas = [
            Assigned {
                index: 0,
                shape: &route,
                purpose: None,
            },
            Assigned {
                index: 1,
                shape: &station,
                purpose: Some(ZonePurpose::TransferStation),
            },
        ];
        let prof = Profile {
            work_kmh: 18.0,
            transit_kmh: 18.0,
            acc_m: 5.0,
        };
        let stop = StationStop {
            queue_s: 360.0,
            unload_s: 240.0,
        };
        let opts = Options {
            stations: Some(stop),
            ..Options::default()
        };
        let (start, steps) = build(DeviceKind::Collector, &areas, prof, &mut Rng::new(3), opts);
        assert_eq!(start, [0.0, 0.0]);
        let mut w = Walker::tagged(start, steps);
        // 2 km out and back at 5 m/s, then 500 m along the street and 45 m into the yard
        let m = w.advance(400.0 + 545.0 / 5.0 + 10.0);
        assert!(dist(m.pos, [500.0, 45.0]) < 1e-6 && !m.work, "{m:?}");
        assert_eq!(m.tag, Tag::TransferTrip(1));
        // queueing (compactor off), then unloading (compactor on)
        let m = w.advance(360.0);
        assert!(
            m.work && m.kmh == 0.0 && m.tag == Tag::TransferTrip(1),
            "{m:?}"
        );
        // back on the route, working
        let m = w.advance(240.0 + 545.0 / 5.0 + 10.0);
        assert!(m.work && m.tag == Tag::Work, "{m:?}");
    }

    #[test]
    fn a_skipped_route_is_not_driven() {
        let a = Shape::Line(vec![[0.0, 0.0], [500.0, 0.0]]);
        let b = Shape::Line(vec![[0.0, 600.0], [500.0, 600.0]]);
        let areas = [
            Assigned {
                index: 0,
                shape: &a,
                purpose: None,
            },
            Assigned {
                index: 1,
                shape: &b,
                purpose: None,
            },
        ];
        let prof = Profile::pick(DeviceKind::Sweeper, &mut Rng::new(1));
        let opts = Options {
            skip: Some(0),
            ..Options::default()
        };
        let (start, steps) = build(DeviceKind::Sweeper, &areas, prof, &mut Rng::new(2), opts);
        assert_eq!(start, [0.0, 600.0]);
        let mut w = Walker::tagged(start, steps);
        for _ in 0..1000 {
            let m = w.advance(5.0);
            assert!((m.pos[1] - 600.0).abs() < 1e-6, "{m:?}");
        }
    }

    #[test]
    fn a_worker_walks_a_loop_inside_its_beat() {
        let beat = Shape::Ring(vec![[0.0, 0.0], [400.0, 0.0], [400.0, 300.0], [0.0, 300.0]]);
        let prof = Profile::pick(DeviceKind::Worker, &mut Rng::new(1));
        let (start, steps) = build(
            DeviceKind::Worker,
            &[Assigned {
                index: 0,
                shape: &beat,
                purpose: Some(ZonePurpose::Beat),
            }],
            prof,
            &mut Rng::new(9),
            Options::default(),
        );
        let mut w = Walker::tagged(start, steps);
        for _ in 0..500 {
            let m = w.advance(10.0);
            assert!((0.0..=400.0).contains(&m.pos[0]) && (0.0..=300.0).contains(&m.pos[1]));
            assert!(m.work && (3.0..=4.0).contains(&m.kmh));
        }
    }
}
