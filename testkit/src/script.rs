//! The fix-script language of the tests: timed fixes of several devices,
//! written in local metres around an origin (the caller's projection turns
//! metres into lon/lat), read back in time order, each rendered as the MQTT
//! contract's JSON payload on `sweepwatch/v1/{org}/{dev}/fix` (DESIGN.md,
//! "MQTT contract v1"), or as a backlog array on `…/fixes`. The geofence
//! crate's own tests turn a [`Fix`] into a `geofence::Fix` with a small
//! adapter of theirs (`testkit` cannot depend on `geofence`: geofence's tests
//! depend on `testkit`).
//!
//! ```text
//! let mut s = Script::new(town::pt).with_accuracy(4.0);
//! s.walk("sw-1", t0, t0 + 6 min, (0.0, 0.0), (800.0, 0.0), 5, true);  // a fix every 5 s
//! s.stay("wk-1", t1, t2, (300.0, 600.0), 30, true);                   // standing, GPS jitter
//! for (topic, payload) in s.messages("humen") { … }                   // in time order
//! ```
//!
//! Everything is deterministic: the same script gives the same fixes, byte
//! for byte, on every run (the jitter of [`Script::stay`] is a fixed pattern).
//! Behind the `script` feature, so the binary that uses the rest of the kit
//! (the demo's broker) does not carry it.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

/// Local metres (east, north) to (lon, lat) degrees.
pub type Projection = fn(f64, f64) -> (f64, f64);

/// One fix as a device reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    pub ts: DateTime<Utc>,
    pub lon: f64,
    pub lat: f64,
    /// Speed over ground, km/h (`speed`); absent: the engine derives it.
    pub speed_kmh: Option<f64>,
    /// Horizontal accuracy, metres (`acc`).
    pub acc_m: Option<f64>,
    /// Broom down / pump on / on duty (`work`); absent: no sensor.
    pub work: Option<bool>,
    pub sos: bool,
}

impl Fix {
    /// The contract's JSON object (absent fields left out).
    pub fn json(&self) -> Value {
        let mut v = json!({
            "ts": self.ts.to_rfc3339_opts(SecondsFormat::Millis, true),
            "lat": self.lat,
            "lon": self.lon,
        });
        let o = v.as_object_mut().expect("an object");
        if let Some(s) = self.speed_kmh {
            o.insert("speed".into(), json!(s));
        }
        if let Some(a) = self.acc_m {
            o.insert("acc".into(), json!(a));
        }
        if let Some(w) = self.work {
            o.insert("work".into(), json!(w));
        }
        if self.sos {
            o.insert("sos".into(), json!(true));
        }
        v
    }

    /// The payload of a `…/fix` message.
    pub fn payload(&self) -> String {
        self.json().to_string()
    }
}

/// The topic of one fix of `dev` in `org`.
pub fn fix_topic(org: &str, dev: &str) -> String {
    format!("sweepwatch/v1/{org}/{dev}/fix")
}

/// The topic of a backlog (a JSON array of fixes) of `dev` in `org`.
pub fn backlog_topic(org: &str, dev: &str) -> String {
    format!("sweepwatch/v1/{org}/{dev}/fixes")
}

/// The payload of a backlog message: the fixes as a JSON array, in the order given.
pub fn backlog_payload<'a>(fixes: impl IntoIterator<Item = &'a Fix>) -> String {
    Value::Array(fixes.into_iter().map(Fix::json).collect()).to_string()
}

/// Timed fixes of several devices. At most one fix per device and instant,
/// as the store keeps them: the same fix again (two walks that meet) is kept
/// once; a different one is a mistake in the script and panics.
#[derive(Clone)]
pub struct Script {
    project: Projection,
    accuracy_m: Option<f64>,
    speeds: bool,
    fixes: BTreeMap<(DateTime<Utc>, String), Fix>,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("accuracy_m", &self.accuracy_m)
            .field("speeds", &self.speeds)
            .field("fixes", &self.fixes.len())
            .finish()
    }
}

impl Script {
    /// An empty script whose positions are metres, turned into lon/lat by
    /// `project`. Moving fixes report their speed; none reports an accuracy.
    pub fn new(project: Projection) -> Self {
        Self {
            project,
            accuracy_m: None,
            speeds: true,
            fixes: BTreeMap::new(),
        }
    }

    /// Every fix added from now on reports this accuracy (`acc`), metres.
    pub fn with_accuracy(mut self, metres: f64) -> Self {
        self.accuracy_m = Some(metres);
        self
    }

    /// Fixes of [`Script::walk`], [`Script::path`] and [`Script::stay`]
    /// carry no speed (the engine derives it from consecutive fixes).
    pub fn without_speed(mut self) -> Self {
        self.speeds = false;
        self
    }

    /// One fix of `dev` at `p` (metres), with the script's accuracy. Returns
    /// it, to change what the arguments do not set.
    pub fn fix(
        &mut self,
        dev: &str,
        ts: DateTime<Utc>,
        p: (f64, f64),
        speed_kmh: Option<f64>,
        work: impl Into<Option<bool>>,
    ) -> &mut Fix {
        let (lon, lat) = (self.project)(p.0, p.1);
        let fix = Fix {
            ts,
            lon,
            lat,
            speed_kmh,
            acc_m: self.accuracy_m,
            work: work.into(),
            sos: false,
        };
        match self.fixes.entry((ts, dev.to_owned())) {
            Entry::Vacant(v) => v.insert(fix),
            Entry::Occupied(o) => {
                assert!(
                    *o.get() == fix,
                    "the script has two different fixes of {dev} at {ts}"
                );
                o.into_mut()
            }
        }
    }

    /// An SOS press at `p`, as a terminal sends it: position, work flag and
    /// `sos`, no speed, no accuracy.
    pub fn sos(&mut self, dev: &str, ts: DateTime<Utc>, p: (f64, f64), work: bool) {
        let f = self.fix(dev, ts, p, None, work);
        f.acc_m = None;
        f.sos = true;
    }

    /// `dev` moving in a straight line from `a` to `b` (metres) over
    /// `from..=to`, a fix every `every` seconds from `from` (the last one at
    /// `to` when the step falls on it), at the constant speed that takes.
    #[allow(clippy::too_many_arguments)]
    pub fn walk(
        &mut self,
        dev: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        a: (f64, f64),
        b: (f64, f64),
        every: i64,
        work: impl Into<Option<bool>>,
    ) {
        assert!(every > 0, "a fix every {every} s");
        let work = work.into();
        let total = (to - from).num_seconds().max(1);
        let speed = self.speeds.then(|| dist(a, b) / total as f64 * 3.6);
        let mut t = 0;
        while t <= total {
            let f = t as f64 / total as f64;
            self.fix(dev, from + Duration::seconds(t), lerp(a, b, f), speed, work);
            t += every;
        }
    }

    /// `dev` along straight legs through `points` (metres), each leg taking
    /// `leg_s` seconds from `start`, a fix every `every` seconds of each leg
    /// (a leg's end is the next leg's start), and one at the last point.
    pub fn path(
        &mut self,
        dev: &str,
        start: DateTime<Utc>,
        points: &[(f64, f64)],
        leg_s: i64,
        every: i64,
        work: impl Into<Option<bool>>,
    ) {
        assert!(
            every > 0 && leg_s > 0,
            "legs of {leg_s} s, a fix every {every} s"
        );
        let work = work.into();
        let mut t0 = 0;
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            let speed = self.speeds.then(|| dist(a, b) / leg_s as f64 * 3.6);
            let mut s = 0;
            while s < leg_s {
                let f = s as f64 / leg_s as f64;
                let ts = start + Duration::seconds(t0 + s);
                self.fix(dev, ts, lerp(a, b, f), speed, work);
                s += every;
            }
            t0 += leg_s;
        }
        let last = *points.last().expect("a path has a point");
        let speed = self.speeds.then_some(0.0);
        self.fix(dev, start + Duration::seconds(t0), last, speed, work);
    }

    /// `dev` standing at `p` over `from..=to`, a fix every `every` seconds,
    /// with a fixed pattern of GPS jitter (within 2 m on each axis).
    pub fn stay(
        &mut self,
        dev: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        p: (f64, f64),
        every: i64,
        work: impl Into<Option<bool>>,
    ) {
        assert!(every > 0, "a fix every {every} s");
        let work = work.into();
        let speed = self.speeds.then_some(0.0);
        let mut t = from;
        let mut i = 0.0f64;
        while t <= to {
            let q = (p.0 + (i * 1.7).sin() * 2.0, p.1 + (i * 1.3).cos() * 2.0);
            self.fix(dev, t, q, speed, work);
            t += Duration::seconds(every);
            i += 1.0;
        }
    }

    /// How many fixes.
    pub fn len(&self) -> usize {
        self.fixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fixes.is_empty()
    }

    /// (device, fix) in time order (devices by name at the same instant).
    pub fn fixes(&self) -> impl DoubleEndedIterator<Item = (&str, &Fix)> + '_ {
        self.fixes.iter().map(|((_, dev), f)| (dev.as_str(), f))
    }

    /// One device's fixes, in time order.
    pub fn fixes_of<'a>(&'a self, dev: &'a str) -> impl DoubleEndedIterator<Item = &'a Fix> {
        self.fixes().filter(move |(d, _)| *d == dev).map(|(_, f)| f)
    }

    /// (topic, payload) of each fix in `org`, in time order: what devices
    /// publishing live would send.
    pub fn messages(&self, org: &str) -> Vec<(String, String)> {
        self.fixes()
            .map(|(dev, f)| (fix_topic(org, dev), f.payload()))
            .collect()
    }
}

fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt()
}

fn lerp(a: (f64, f64), b: (f64, f64), f: f64) -> (f64, f64) {
    (a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// 1 m = 1e-5 degree, for readable expectations.
    fn flat(x: f64, y: f64) -> (f64, f64) {
        (113.0 + x * 1e-5, 22.0 + y * 1e-5)
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_walk_steps_from_start_to_end_at_its_speed() {
        let mut s = Script::new(flat).with_accuracy(4.0);
        s.walk(
            "a",
            t0(),
            t0() + Duration::seconds(20),
            (0.0, 0.0),
            (100.0, 0.0),
            5,
            true,
        );
        let xs: Vec<f64> = s.fixes_of("a").map(|f| (f.lon - 113.0) * 1e5).collect();
        assert_eq!(xs.len(), 5);
        for (x, want) in xs.iter().zip([0.0, 25.0, 50.0, 75.0, 100.0]) {
            assert!((x - want).abs() < 1e-6, "{xs:?}");
        }
        let f = s.fixes_of("a").next().unwrap();
        assert_eq!(
            (f.speed_kmh, f.acc_m, f.work),
            (Some(18.0), Some(4.0), Some(true))
        );
    }

    #[test]
    fn a_path_ends_each_leg_where_the_next_begins_and_ends_on_its_last_point() {
        let mut s = Script::new(flat).without_speed();
        s.path(
            "a",
            t0(),
            &[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)],
            10,
            5,
            None,
        );
        let at: Vec<(i64, (i64, i64))> = s
            .fixes_of("a")
            .map(|f| {
                let (x, y) = ((f.lon - 113.0) * 1e5, (f.lat - 22.0) * 1e5);
                (
                    (f.ts - t0()).num_seconds(),
                    (x.round() as i64, y.round() as i64),
                )
            })
            .collect();
        assert_eq!(
            at,
            vec![
                (0, (0, 0)),
                (5, (5, 0)),
                (10, (10, 0)),
                (15, (10, 5)),
                (20, (10, 10))
            ]
        );
        assert!(
            s.fixes()
                .all(|(_, f)| f.speed_kmh.is_none() && f.work.is_none())
        );
    }

    #[test]
    fn fixes_come_out_in_time_order_across_devices_and_render_the_contract() {
        let mut s = Script::new(flat);
        s.stay(
            "b",
            t0(),
            t0() + Duration::seconds(20),
            (0.0, 0.0),
            10,
            false,
        );
        s.walk(
            "a",
            t0(),
            t0() + Duration::seconds(10),
            (0.0, 0.0),
            (10.0, 0.0),
            10,
            true,
        );
        s.sos("a", t0() + Duration::seconds(15), (10.0, 0.0), true);
        let order: Vec<(i64, &str)> = s
            .fixes()
            .map(|(d, f)| ((f.ts - t0()).num_seconds(), d))
            .collect();
        assert_eq!(
            order,
            vec![
                (0, "a"),
                (0, "b"),
                (10, "a"),
                (10, "b"),
                (15, "a"),
                (20, "b")
            ]
        );
        let msgs = s.messages("org-1");
        assert_eq!(msgs[0].0, "sweepwatch/v1/org-1/a/fix");
        let first: Value = serde_json::from_str(&msgs[0].1).unwrap();
        assert_eq!(first["ts"], "2026-11-27T00:00:00.000Z");
        assert_eq!(
            (first["speed"].as_f64(), first["work"].as_bool()),
            (Some(3.6), Some(true))
        );
        assert!(first.get("acc").is_none() && first.get("sos").is_none());
        let sos: Value = serde_json::from_str(&msgs[4].1).unwrap();
        assert_eq!(sos["sos"], true);
        assert!(sos.get("speed").is_none());
        let backlog: Value = serde_json::from_str(&backlog_payload(s.fixes_of("b").rev())).unwrap();
        assert_eq!(backlog.as_array().unwrap().len(), 3);
        assert_eq!(backlog[0]["ts"], "2026-11-27T00:00:20.000Z");
    }

    #[test]
    #[should_panic(expected = "two different fixes of a")]
    fn two_different_fixes_of_a_device_at_one_instant_are_refused() {
        let mut s = Script::new(flat);
        s.fix("a", t0(), (0.0, 0.0), None, None);
        s.fix("a", t0(), (1.0, 0.0), None, None);
    }

    #[test]
    fn walks_that_meet_keep_their_common_fix_once() {
        let mut s = Script::new(flat);
        let t1 = t0() + Duration::seconds(10);
        s.walk("a", t0(), t1, (0.0, 0.0), (10.0, 0.0), 5, true);
        s.walk(
            "a",
            t1,
            t1 + Duration::seconds(10),
            (10.0, 0.0),
            (20.0, 0.0),
            5,
            true,
        );
        assert_eq!(s.len(), 5);
    }
}
