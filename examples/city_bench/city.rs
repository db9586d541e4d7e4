//! The benchmark's city: a grid of beats (square polygons), street routes
//! (polylines with jogs) over them, devices assigned to a route or a beat on a
//! shift that covers the run, and where each device is at any instant (on its
//! route or inside its beat), for the simulator's load mode to publish.

use std::sync::Arc;

use crate::common::city::{along, point, shuttle, to_deg};
use chrono::{DateTime, Timelike, Utc};
use serde_json::{Value, json};
use simulator::load::fleet::{Track, TrackPoint, device_id};

pub const ORG: &str = "city";
pub const DISTRICTS: usize = 50;
/// Beats are squares of this side, 50 to a row.
const CELL_M: f64 = 300.0;
const COLUMNS: usize = 50;
/// A route runs this far east, over four beats, with a jog at each vertex.
const ROUTE_LEN_M: f64 = 1_200.0;
const JOGS_M: [f64; 5] = [0.0, 15.0, 0.0, -15.0, 0.0];

/// A small deterministic hash (splitmix64) for the city's variety.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(seed: u64) -> f64 {
    (mix(seed) >> 11) as f64 / (1u64 << 53) as f64
}

/// Beat `b`'s square: (x0, y0, x1, y1).
fn beat_rect(b: usize) -> (f64, f64, f64, f64) {
    let (x0, y0) = ((b % COLUMNS) as f64 * CELL_M, (b / COLUMNS) as f64 * CELL_M);
    (x0, y0, x0 + CELL_M, y0 + CELL_M)
}

/// Route `r`'s vertices: from beat `r`'s cell eastwards, on one of four
/// streets of the row (so that routes starting in neighbouring cells do not
/// lie on each other).
fn route_points(r: usize) -> Vec<(f64, f64)> {
    let (x0, y0, _, _) = beat_rect(r);
    let y = y0 + 30.0 + (r % 4) as f64 * 60.0;
    let step = ROUTE_LEN_M / (JOGS_M.len() - 1) as f64;
    JOGS_M
        .iter()
        .enumerate()
        .map(|(i, jog)| (x0 + 10.0 + i as f64 * step, y + jog))
        .collect()
}

/// What load device `n` does.
#[derive(Clone, Copy)]
pub enum Job {
    Sweep { route: usize },
    Wash { route: usize },
    Walk { beat: usize },
}

/// The city's size.
#[derive(Clone, Copy)]
pub struct Size {
    pub devices: u32,
    pub routes: usize,
    pub beats: usize,
}

impl Size {
    /// A tenth of the devices wash and a fifth sweep a route (about 15 per
    /// route at 100,000 devices); the rest walk a beat in GPS uniforms.
    pub fn job(&self, n: u32) -> Job {
        let h = mix(u64::from(n));
        let route = (h % self.routes as u64) as usize;
        match n % 10 {
            0 => Job::Wash { route },
            1 | 2 => Job::Sweep { route },
            _ => Job::Walk {
                beat: ((h >> 20) % self.beats as u64) as usize,
            },
        }
    }

    fn district(&self, i: usize, of: usize) -> String {
        format!("District {:02}", i * DISTRICTS / of + 1)
    }

    fn features(&self) -> Vec<Value> {
        let mut features = Vec::with_capacity(self.routes + self.beats);
        for r in 0..self.routes {
            let coords: Vec<Value> = route_points(r).iter().map(|&(x, y)| point(x, y)).collect();
            features.push(json!({"type": "Feature", "id": format!("route-{r:04}"),
                "properties": {"kind": "route", "name": format!("Street {r}"),
                    "district": self.district(r, self.routes), "passes": 1, "width_m": 8.0},
                "geometry": {"type": "LineString", "coordinates": coords}}));
        }
        for b in 0..self.beats {
            let (x0, y0, x1, y1) = beat_rect(b);
            let ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
            let ring: Vec<Value> = ring.iter().map(|&(x, y)| point(x, y)).collect();
            features.push(json!({"type": "Feature", "id": format!("beat-{b:04}"),
                "properties": {"kind": "beat", "name": format!("Beat {b}"),
                    "district": self.district(b, self.beats)},
                "geometry": {"type": "Polygon", "coordinates": [ring]}}));
        }
        features
    }

    /// The scenario (`sweepwatch-scenario/1`): areas, one shift from the
    /// minute of `now` to three hours after it (org clock, Asia/Shanghai), and
    /// every load device assigned to its route or beat on it. The shift starts
    /// as the run does, so every device reports within the `late_start` grace
    /// (15 min): a shift already an hour old would open 100,000 `late_start`
    /// alerts at the first fix and clear them as the devices report (see
    /// docs/PERFORMANCE.md, the alert storm).
    pub fn scenario(&self, now: DateTime<Utc>) -> Value {
        let local = now.with_timezone(&chrono_tz::Asia::Shanghai);
        let hhmm = |h: i64| {
            let m = (i64::from(local.hour()) * 60 + i64::from(local.minute()) + h * 60)
                .rem_euclid(24 * 60);
            format!("{:02}:{:02}:00", m / 60, m % 60)
        };
        let mut devices = Vec::with_capacity(self.devices as usize);
        let mut assignments = Vec::with_capacity(self.devices as usize);
        for n in 1..=self.devices {
            let name = device_id(n);
            let (kind, area) = match self.job(n) {
                Job::Sweep { route } => ("sweeper", format!("route-{route:04}")),
                Job::Wash { route } => ("washer", format!("route-{route:04}")),
                Job::Walk { beat } => ("worker", format!("beat-{beat:04}")),
            };
            devices.push(json!({"id": name, "kind": kind, "label": name}));
            assignments.push(json!({"device": name, "area": area, "shift": "city",
                "valid_from": "2026-01-01T00:00:00Z", "valid_to": null}));
        }
        let every_day = json!(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);
        json!({
            "format": "sweepwatch-scenario/1",
            "org": {"id": ORG, "name": "Benchmark city", "timezone": "Asia/Shanghai"},
            "areas": {"type": "FeatureCollection", "features": self.features()},
            "shifts": [{"id": "city", "name": "City shift",
                "weekly": [{"days": every_day, "start": hhmm(0), "end": hhmm(3)}]}],
            "devices": devices,
            "assignments": assignments,
        })
    }

    /// Where each device is: sweepers (10 km/h) and washers (8 km/h) back and
    /// forth along their route, workers walking (4 km/h) a lane of their beat;
    /// a couple of metres of GPS noise.
    pub fn track(self) -> Track {
        Track(Arc::new(move |n, ts_ms| self.at(n, ts_ms)))
    }

    fn at(&self, n: u32, ts_ms: i64) -> TrackPoint {
        let t = ts_ms as f64 / 1000.0;
        let noise = |k: u64| (unit(u64::from(n) * 1_000_003 + ts_ms as u64 * 7 + k) - 0.5) * 4.0;
        let phase = 3_600.0 * unit(u64::from(n) * 31);
        let (x, y, kmh, heading) = match self.job(n) {
            Job::Sweep { route } | Job::Wash { route } => {
                let kmh = if matches!(self.job(n), Job::Sweep { .. }) {
                    10.0
                } else {
                    8.0
                };
                along(&route_points(route), (t + phase) * kmh / 3.6, kmh)
            }
            Job::Walk { beat } => {
                let (x0, y0, x1, y1) = beat_rect(beat);
                let lane = x0 + 20.0 + (x1 - x0 - 40.0) * unit(u64::from(n) * 17);
                let len = y1 - y0 - 40.0;
                let (d, north) = shuttle((t + phase) * 4.0 / 3.6, len);
                (lane, y0 + 20.0 + d, 4.0, if north { 0.0 } else { 180.0 })
            }
        };
        let (lat, lon) = to_deg(x + noise(1), y + noise(2));
        TrackPoint {
            lat,
            lon,
            speed_kmh: kmh,
            heading_deg: heading,
        }
    }
}
