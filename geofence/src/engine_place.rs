//! Where a device is relative to its working area in the running shift: the
//! input of `off_area` and `work_off_route` (see `rules`).
//!
//! - A **vehicle's** working area is its assigned routes, zones and transfer
//!   stations of the running shift (with `area_margin_m`), and the ways between
//!   any two of them ([`crate::reach`]): driving from one route to the next, or
//!   to its transfer station and back, is part of the job.
//! - A **street cleaner's** is her beat (with `area_margin_m`, for GPS noise),
//!   the rest zones (city service stations), and the way between her beat and a
//!   rest zone near it: a break trip.

use crate::engine::Engine;
use crate::fix::DeviceKind;
use crate::reach::{gap_m, on_the_way};
use crate::rules_config::RuleParams;

/// How far a break trip may reach: rest zones further than this from the
/// cleaner are not considered (a kilometre and a half is a 20-minute walk).
const REST_TRIP_REACH_M: f64 = 1_500.0;

/// The device's position relative to its working area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Placement {
    /// Inside one of the assigned areas of the running shift (with margin).
    pub in_assigned: bool,
    /// Inside a rest zone.
    pub in_rest: bool,
    /// Metres beyond the working area: 0 inside an assigned area, in a rest
    /// zone (cleaners) or on the way between two parts of the working area.
    pub beyond_m: f64,
}

impl Engine {
    /// Whether (lon, lat) is inside area `a` with `margin_m` (zones too).
    pub(crate) fn inside_with_margin(&self, a: u32, lon: f64, lat: f64, margin_m: f64) -> bool {
        let ca = &self.index.areas[a as usize];
        ca.contains(lon, lat, margin_m)
            || (ca.route().is_none() && margin_m > 0.0 && ca.distance_m(lon, lat) <= margin_m)
    }

    /// Placement of a device of `kind` at `at` (lon, lat), given the areas of
    /// its running assignments (`areas`, deduplicated) and whether it is inside
    /// one of them or a rest zone.
    pub(crate) fn placement(
        &mut self,
        kind: DeviceKind,
        areas: &[u32],
        (inside, in_rest): (bool, bool),
        (lon, lat): (f64, f64),
        p: &RuleParams,
    ) -> Placement {
        if inside {
            return Placement {
                in_assigned: true,
                in_rest,
                beyond_m: 0.0,
            };
        }
        let worker = kind == DeviceKind::Worker;
        if worker && in_rest {
            return Placement {
                in_assigned: false,
                in_rest,
                beyond_m: 0.0,
            };
        }
        // Distance beyond each assigned area of the shift.
        let dists: Vec<(u32, f64)> = areas
            .iter()
            .map(|&a| (a, self.index.areas[a as usize].distance_m(lon, lat)))
            .collect();
        let nearest = dists.iter().map(|d| d.1).fold(f64::INFINITY, f64::min);
        let mut pairs: Vec<(u32, f64, u32, f64)> = Vec::new();
        if worker {
            // Her beat(s) and each rest zone within reach: a break trip.
            let reach_deg_lat = REST_TRIP_REACH_M / 111_000.0;
            let reach_deg_lon = reach_deg_lat / lat.to_radians().cos().max(0.01);
            let mut rests = Vec::new();
            self.index.near_rest(
                [lon - reach_deg_lon, lat - reach_deg_lat],
                [lon + reach_deg_lon, lat + reach_deg_lat],
                |r| rests.push(r),
            );
            for r in rests {
                let dr = self.index.areas[r as usize].distance_m(lon, lat);
                for &(a, da) in &dists {
                    pairs.push((a, da, r, dr));
                }
            }
        } else {
            for (i, &(a, da)) in dists.iter().enumerate() {
                for &(b, db) in &dists[i + 1..] {
                    pairs.push((a, da, b, db));
                }
            }
        }
        let on_way = pairs.into_iter().any(|(a, da, b, db)| {
            let gap = self.gap(a, b);
            on_the_way(da, db, gap, p.way_detour, p.way_slack_m)
        });
        Placement {
            in_assigned: false,
            in_rest,
            beyond_m: if on_way { 0.0 } else { nearest },
        }
    }

    /// Metres between areas `a` and `b`, computed once.
    fn gap(&mut self, a: u32, b: u32) -> f64 {
        let key = (a.min(b), a.max(b));
        if let Some(&g) = self.gaps.get(&key) {
            return f64::from(g);
        }
        let g = gap_m(&self.index.areas[a as usize], &self.index.areas[b as usize]);
        self.gaps.insert(key, g as f32);
        g
    }
}
