//! The simulated devices of one load connection: where each one is, how it moves, and
//! the contract-v1 JSON of its next fix. Pure: the wall-clock time is a parameter.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Timelike, Utc};
use geofence::geodesy::{LocalFrame, local_distance_m};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Humen, Dongguan: the centre the fleet moves around.
pub const CENTRE_LAT: f64 = 22.82;
pub const CENTRE_LON: f64 = 113.67;
/// Devices start within this distance of the centre…
const START_RADIUS_M: f64 = 3_000.0;
/// …and turn back towards it once further than this.
const ROAM_RADIUS_M: f64 = 5_000.0;
/// Working speeds of sweepers and cleaners, km/h.
const MIN_SPEED_KMH: f64 = 2.0;
const MAX_SPEED_KMH: f64 = 18.0;
/// The longest gap between two fixes that is extrapolated as movement.
const MAX_STEP_S: f64 = 60.0;

/// The device id of load device number `n` (1-based): `load-000001`.
pub fn device_id(n: u32) -> String {
    format!("load-{n:06}")
}

/// The fix topic of a device, per the MQTT contract v1.
pub fn fix_topic(org: &str, device: &str) -> String {
    format!("sweepwatch/v1/{org}/{device}/fix")
}

/// Where a load device is at an instant, when the caller decides (e.g. along the
/// route or inside the beat a scenario assigns it) instead of the random walk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackPoint {
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: f64,
    pub heading_deg: f64,
}

/// A caller's track: `(device number, epoch milliseconds)` to where that device
/// is then. Pure and cheap: it is called once per fix.
#[derive(Clone)]
pub struct Track(pub Arc<dyn Fn(u32, i64) -> TrackPoint + Send + Sync>);

impl std::fmt::Debug for Track {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Track(..)")
    }
}

struct Device {
    /// The device's number (see [`device_id`]).
    number: u32,
    topic: String,
    lat: f64,
    lon: f64,
    heading_deg: f64,
    speed_kmh: f64,
    batt: f64,
    seq: u64,
    /// Epoch milliseconds of the last fix, 0 before the first.
    last_ms: i64,
}

/// One fix, as encoded into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixMeta {
    /// Index of the device within this fleet.
    pub device: usize,
    /// The fix's `ts`, epoch milliseconds.
    pub ts_ms: i64,
    pub seq: u64,
}

/// A set of devices that take turns (round robin) to produce fixes.
pub struct Fleet {
    devices: Vec<Device>,
    next: usize,
    rng: StdRng,
    track: Option<Track>,
}

impl Fleet {
    /// Devices numbered by `numbers` (see [`device_id`]) in `org`, placed at random
    /// (deterministically for a given `seed`) around the centre.
    pub fn new(org: &str, numbers: impl IntoIterator<Item = u32>, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let devices = numbers
            .into_iter()
            .map(|n| {
                let r = START_RADIUS_M * rng.random::<f64>().sqrt();
                let bearing = rng.random_range(0.0..360.0_f64);
                let (lat, lon) = offset(CENTRE_LAT, CENTRE_LON, bearing, r);
                Device {
                    number: n,
                    topic: fix_topic(org, &device_id(n)),
                    lat,
                    lon,
                    heading_deg: rng.random_range(0.0..360.0),
                    speed_kmh: rng.random_range(MIN_SPEED_KMH..MAX_SPEED_KMH),
                    batt: rng.random_range(40.0..100.0),
                    seq: 0,
                    last_ms: 0,
                }
            })
            .collect();
        Self {
            devices,
            next: 0,
            rng,
            track: None,
        }
    }

    /// The same fleet, its devices placed by `track` at each fix instead of
    /// wandering (speed and heading from the track too).
    pub fn with_track(mut self, track: Option<Track>) -> Self {
        self.track = track;
        self
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// The fix topic of device `index`.
    pub fn topic(&self, index: usize) -> &str {
        self.devices.get(index).map_or("", |d| d.topic.as_str())
    }

    /// Moves the next device (round robin) to `now_ms` and writes its fix JSON into `out`
    /// (cleared first). Its `ts` is `now_ms`, or 1 ms after its previous fix if that is
    /// later, so that a device's timestamps strictly increase. `None` for an empty fleet.
    pub fn next_fix(&mut self, now_ms: i64, out: &mut String) -> Option<FixMeta> {
        let count = self.devices.len();
        if count == 0 {
            return None;
        }
        let index = self.next % count;
        self.next = (index + 1) % count;
        let rng = &mut self.rng;
        let d = self.devices.get_mut(index)?;
        let ts_ms = now_ms.max(d.last_ms + 1);
        let dt_s = if d.last_ms == 0 {
            0.0
        } else {
            ((ts_ms - d.last_ms) as f64 / 1000.0).min(MAX_STEP_S)
        };
        match &self.track {
            Some(Track(at)) => {
                let p = at(d.number, ts_ms);
                (d.lat, d.lon, d.speed_kmh, d.heading_deg) =
                    (p.lat, p.lon, p.speed_kmh, p.heading_deg.rem_euclid(360.0));
            }
            None => d.step(rng, dt_s),
        }
        d.last_ms = ts_ms;
        d.seq += 1;
        let acc = rng.random_range(2.5..8.0_f64);
        out.clear();
        write_fix(out, d, ts_ms, acc);
        Some(FixMeta {
            device: index,
            ts_ms,
            seq: d.seq,
        })
    }
}

impl Device {
    /// A plausible move over `dt_s` seconds: wander, vary speed, stay near the centre.
    fn step(&mut self, rng: &mut StdRng, dt_s: f64) {
        let from_centre = distance_m(CENTRE_LAT, CENTRE_LON, self.lat, self.lon);
        self.heading_deg = if from_centre > ROAM_RADIUS_M {
            bearing_deg(self.lat, self.lon, CENTRE_LAT, CENTRE_LON) + rng.random_range(-30.0..30.0)
        } else {
            self.heading_deg + rng.random_range(-20.0..20.0)
        }
        .rem_euclid(360.0);
        self.speed_kmh =
            (self.speed_kmh + rng.random_range(-1.5..1.5)).clamp(MIN_SPEED_KMH, MAX_SPEED_KMH);
        let metres = self.speed_kmh / 3.6 * dt_s;
        (self.lat, self.lon) = offset(self.lat, self.lon, self.heading_deg, metres);
        // Drains slowly; "recharged" at the depot when low.
        self.batt -= 0.002;
        if self.batt < 15.0 {
            self.batt = 100.0;
        }
    }
}

/// `{"ts":…,"lat":…,"lon":…,"speed":…,"heading":…,"acc":…,"work":true,"batt":…,"seq":…}`
fn write_fix(out: &mut String, d: &Device, ts_ms: i64, acc: f64) {
    out.push_str("{\"ts\":\"");
    write_rfc3339_millis(out, ts_ms);
    // Writing into a String cannot fail; the fmt::Result is always Ok.
    let _ = write!(
        out,
        "\",\"lat\":{:.6},\"lon\":{:.6},\"speed\":{:.1},\"heading\":{},\"acc\":{:.1},\
         \"work\":true,\"batt\":{},\"seq\":{}}}",
        d.lat,
        d.lon,
        d.speed_kmh,
        (d.heading_deg.round() as u32) % 360,
        acc,
        d.batt.round() as u32,
        d.seq,
    );
}

/// `2026-11-27T05:00:00.250Z` for epoch milliseconds `ms`, without chrono's format parser.
pub fn write_rfc3339_millis(out: &mut String, ms: i64) {
    let t: DateTime<Utc> = DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.timestamp_subsec_millis().min(999),
    );
}

/// The point `metres` from (`lat`, `lon`) towards `bearing` degrees (in a local frame
/// about the start: fine at city scale).
fn offset(lat: f64, lon: f64, bearing: f64, metres: f64) -> (f64, f64) {
    let b = bearing.to_radians();
    let frame = LocalFrame::new(lon, lat);
    let (lon, lat) = frame.unproject([metres * b.sin(), metres * b.cos()]);
    (lat, lon)
}

fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    local_distance_m(lon1, lat1, lon2, lat2)
}

fn bearing_deg(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let dy = lat2 - lat1;
    let dx = (lon2 - lon1) * lat1.to_radians().cos();
    dx.atan2(dy).to_degrees().rem_euclid(360.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const NOW: i64 = 1_795_755_600_250; // 2026-11-27T05:00:00.250Z

    #[test]
    fn timestamp_format_matches_chrono() {
        let mut s = String::new();
        for ms in [0, NOW, NOW + 999, 1_700_000_000_001] {
            s.clear();
            write_rfc3339_millis(&mut s, ms);
            let expected = DateTime::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            assert_eq!(s, expected);
        }
        s.clear();
        write_rfc3339_millis(&mut s, NOW);
        assert_eq!(s, "2026-11-27T05:00:00.250Z");
    }

    #[test]
    fn fixes_follow_the_contract() {
        let mut fleet = Fleet::new("humen", 1..=3, 7);
        let mut buf = String::new();
        let meta = fleet.next_fix(NOW, &mut buf).unwrap();
        assert_eq!(
            fleet.topic(meta.device),
            "sweepwatch/v1/humen/load-000001/fix"
        );
        let v: Value = serde_json::from_str(&buf).unwrap();
        assert_eq!(v["ts"], "2026-11-27T05:00:00.250Z");
        assert_eq!(v["seq"], 1);
        assert_eq!(v["work"], true);
        let (lat, lon) = (v["lat"].as_f64().unwrap(), v["lon"].as_f64().unwrap());
        assert!(distance_m(CENTRE_LAT, CENTRE_LON, lat, lon) <= START_RADIUS_M + 1.0);
        for key in ["speed", "heading", "acc", "batt"] {
            assert!(v[key].is_number(), "{key} in {buf}");
        }
    }

    #[test]
    fn devices_take_turns_and_timestamps_strictly_increase() {
        let mut fleet = Fleet::new("humen", 1..=2, 1);
        let mut buf = String::new();
        let mut last = [0i64; 2];
        let mut seq = [0u64; 2];
        // Many fixes in the same millisecond: each device's ts still moves on by >= 1 ms.
        for i in 0..100 {
            let m = fleet.next_fix(NOW, &mut buf).unwrap();
            assert_eq!(m.device, i % 2);
            assert!(m.ts_ms > last[m.device]);
            assert_eq!(m.seq, seq[m.device] + 1);
            last[m.device] = m.ts_ms;
            seq[m.device] = m.seq;
        }
        assert_eq!(seq, [50, 50]);
    }

    #[test]
    fn devices_stay_near_humen() {
        let mut fleet = Fleet::new("humen", 1..=5, 3);
        let mut buf = String::new();
        let mut prev: Option<(f64, f64)> = None;
        // Five devices, one fix each every 10 s, for about three simulated hours.
        for i in 0..5_000 {
            let m = fleet.next_fix(NOW + i * 2_000, &mut buf).unwrap();
            let v: Value = serde_json::from_str(&buf).unwrap();
            let (lat, lon) = (v["lat"].as_f64().unwrap(), v["lon"].as_f64().unwrap());
            assert!(distance_m(CENTRE_LAT, CENTRE_LON, lat, lon) < ROAM_RADIUS_M + 1_000.0);
            if m.device == 0 {
                if let Some((plat, plon)) = prev {
                    // 10 s at <= 18 km/h is at most 50 m.
                    assert!(distance_m(plat, plon, lat, lon) <= 51.0);
                }
                prev = Some((lat, lon));
            }
        }
    }

    #[test]
    fn same_seed_same_track() {
        let run = |seed| {
            let mut fleet = Fleet::new("o", 1..=2, seed);
            let mut buf = String::new();
            (0..10)
                .map(|i| {
                    fleet.next_fix(NOW + i * 1000, &mut buf);
                    buf.clone()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn a_track_places_each_device() {
        let track = Track(Arc::new(|n, ts_ms| TrackPoint {
            lat: 22.0 + f64::from(n) * 0.001,
            lon: 113.0 + (ts_ms - NOW) as f64 * 1e-6,
            speed_kmh: 9.5,
            heading_deg: -90.0,
        }));
        let mut fleet = Fleet::new("o", [4, 9], 1).with_track(Some(track));
        let mut buf = String::new();
        for (i, (n, dt)) in [(4u32, 0i64), (9, 0), (4, 1_000)].into_iter().enumerate() {
            let m = fleet.next_fix(NOW + dt, &mut buf).unwrap();
            assert_eq!(m.device, i % 2);
            let v: Value = serde_json::from_str(&buf).unwrap();
            let lat = v["lat"].as_f64().unwrap();
            let lon = v["lon"].as_f64().unwrap();
            assert!((lat - (22.0 + f64::from(n) * 0.001)).abs() < 1e-9, "{buf}");
            assert!((lon - (113.0 + dt as f64 * 1e-6)).abs() < 1e-9, "{buf}");
            assert_eq!(v["speed"], 9.5);
            assert_eq!(v["heading"], 270);
        }
    }

    #[test]
    fn empty_fleet_yields_nothing() {
        let mut fleet = Fleet::new("o", std::iter::empty(), 0);
        assert!(fleet.is_empty());
        assert_eq!(fleet.next_fix(NOW, &mut String::new()), None);
    }
}
