//! What the chaos tests publish: a fleet's fixes, plus a few bad messages in
//! the middle of every stream, as `mosquitto_pub` jobs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::check::{FIXES, count};
use crate::helpers::burst::{Job, publish};
use crate::helpers::eventually;
use crate::helpers::publisher::{fix_json, now_ms};

/// The org of every device in these tests.
pub const ORG: &str = "chaos";

/// Where the bad messages go (a device that never sends a good one).
pub const BAD_TOPIC: &str = "sweepwatch/v1/chaos/dev-bad/fix";

/// Bad messages in each stream.
const BAD_PER_STREAM: usize = 10;

/// `devices` devices, each publishing a series of fixes: fix `i` has
/// `ts = base + i s` and `seq = i`, so a device's fixes are unique by `ts` and
/// what is stored can be checked per device by count and seq range.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub devices: usize,
    pub base_ms: i64,
    /// Fix 0 of device 0 was published on its own ([`prime`]): leave it out of jobs.
    primed: bool,
    /// Every bad message handed out so far (each is unique).
    bad: Arc<Mutex<Vec<String>>>,
}

impl Fleet {
    /// Fix times start an hour ago: well inside the 5-minute-future /
    /// retention window for up to 3,600 fixes per device.
    pub fn new(devices: usize) -> Self {
        Self {
            devices,
            base_ms: now_ms() - 3_600_000,
            primed: false,
            bad: Arc::default(),
        }
    }

    pub fn device(&self, d: usize) -> String {
        format!("dev-{d:04}")
    }

    pub fn topic(&self, d: usize) -> String {
        format!("sweepwatch/v1/{ORG}/{}/fix", self.device(d))
    }

    pub fn fix(&self, d: usize, i: usize) -> String {
        let lat = 22.8 + d as f64 * 1e-3 + i as f64 * 1e-6;
        let lon = 113.67 + i as f64 * 1e-6;
        fix_json(self.base_ms + i as i64 * 1000, lat, lon, i as u64)
    }

    /// A stream: one job per device with its fixes `range`, and in the middle
    /// a job of [`BAD_PER_STREAM`] unparsable messages (which must be kept).
    pub fn jobs(&self, range: std::ops::Range<usize>) -> Vec<Job> {
        let mut jobs: Vec<Job> = (0..self.devices)
            .map(|d| {
                let fixes = range
                    .clone()
                    .filter(|&i| !(self.primed && d == 0 && i == 0))
                    .map(|i| self.fix(d, i))
                    .collect();
                Job::new(self.topic(d), fixes)
            })
            .filter(|j| !j.lines.is_empty())
            .collect();
        let mut bad = self.bad.lock().unwrap();
        let lines: Vec<String> = (0..BAD_PER_STREAM)
            .map(|k| format!("not json: chaos bad message {}", bad.len() + k))
            .collect();
        bad.extend(lines.iter().cloned());
        jobs.insert(jobs.len() / 2, Job::new(BAD_TOPIC, lines));
        jobs
    }

    /// The bad messages of every stream handed out so far.
    pub fn bad_messages(&self) -> Vec<String> {
        self.bad.lock().unwrap().clone()
    }

    /// The good fixes of devices `0..self.devices`, `per_device` each.
    pub fn fixes(&self, per_device: usize) -> i64 {
        (self.devices * per_device) as i64
    }
}

/// Publishes fix 0 of device 0 alone and waits until it is stored: the
/// service's subscription exists (so its persistent session queues whatever
/// comes next, also while it is stopped), and the database is migrated.
pub async fn prime(port: u16, db_url: &str, fleet: &mut Fleet) {
    let job = Job::new(fleet.topic(0), vec![fleet.fix(0, 0)]);
    publish(port, vec![job]).await;
    eventually(
        Duration::from_secs(60),
        "the first fix to be stored",
        || async { (count(db_url, FIXES).await == Some(1)).then_some(()) },
    )
    .await;
    fleet.primed = true;
}
