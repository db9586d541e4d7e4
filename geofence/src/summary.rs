//! Daily summary per device and local date (the org's time zone).

use serde::{Deserialize, Serialize};

/// Distances and times of one device on one local date. Built from consecutive
/// in-order fixes within the gap limits; a segment counts on the date it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DailySummary {
    /// Distance travelled, metres.
    pub distance_m: f64,
    /// Distance travelled while working, metres.
    pub working_distance_m: f64,
    /// Time working, seconds.
    pub working_s: f64,
    /// Time moving but not working, seconds.
    pub transit_s: f64,
    /// Time neither moving nor working, seconds.
    pub idle_s: f64,
    /// Share of distance travelled not working, in [0, 1] (0 when no distance).
    pub deadhead_ratio: f64,
}

/// How a segment between two fixes is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    Working,
    Transit,
    Idle,
}

impl DailySummary {
    pub(crate) fn add(&mut self, activity: Activity, dist_m: f64, dt_s: f64) {
        self.distance_m += dist_m;
        match activity {
            Activity::Working => {
                self.working_s += dt_s;
                self.working_distance_m += dist_m;
            }
            Activity::Transit => self.transit_s += dt_s,
            Activity::Idle => self.idle_s += dt_s,
        }
        self.deadhead_ratio = if self.distance_m > 0.0 {
            ((self.distance_m - self.working_distance_m) / self.distance_m).clamp(0.0, 1.0)
        } else {
            0.0
        };
    }
}
