//! What the live map shows of a device: its display state, from its latest
//! fix, its unresolved alerts and its own rule parameters, at its org's clock.
//! `/positions` and the live stream send it; the page shows what they send.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::AlertKind;
use crate::rules_config::RuleParams;
use crate::windows::LIVE_WITHIN;

/// A device's display state, in order of precedence (the first that holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisplayState {
    /// An SOS is not resolved.
    Sos,
    /// Silent for longer than the device's `offline_after_s`, or the engine's
    /// `offline` alert is open.
    Offline,
    /// An `off_area` alert is not resolved.
    OffArea,
    /// An `idle` alert is not resolved.
    Idle,
    /// The latest fix says working.
    Working,
    /// At least the device's `moving_min_kmh` (as the engine tells moving).
    Moving,
    /// None of the above.
    Stopped,
}

impl DisplayState {
    /// The snake_case name the API sends.
    pub const fn as_str(self) -> &'static str {
        match self {
            DisplayState::Sos => "sos",
            DisplayState::Offline => "offline",
            DisplayState::OffArea => "off_area",
            DisplayState::Idle => "idle",
            DisplayState::Working => "working",
            DisplayState::Moving => "moving",
            DisplayState::Stopped => "stopped",
        }
    }
}

/// A device's latest fix, as far as its display state goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatestFix {
    /// The fix's own time.
    pub ts: DateTime<Utc>,
    /// km/h, if sent.
    pub speed_kmh: Option<f64>,
    /// The work sensor, if the device has one.
    pub work: Option<bool>,
}

/// The display state at `now` (the org's clock, [`org_clock`]) of a device
/// whose latest fix is `fix`, with unresolved alerts of `open` kinds, under
/// its own `params` (its kind's defaults and its overrides).
pub fn display_state(
    now: DateTime<Utc>,
    fix: &LatestFix,
    open: &[AlertKind],
    params: &RuleParams,
) -> DisplayState {
    let has = |k: AlertKind| open.contains(&k);
    let silent_ms = (now - fix.ts).num_milliseconds();
    if has(AlertKind::Sos) {
        DisplayState::Sos
    } else if silent_ms > params.offline_after_s.saturating_mul(1000) || has(AlertKind::Offline) {
        DisplayState::Offline
    } else if has(AlertKind::OffArea) {
        DisplayState::OffArea
    } else if has(AlertKind::Idle) {
        DisplayState::Idle
    } else if fix.work == Some(true) {
        DisplayState::Working
    } else if fix.speed_kmh.unwrap_or(0.0) >= params.moving_min_kmh {
        DisplayState::Moving
    } else {
        DisplayState::Stopped
    }
}

/// An org's clock, as the engine keeps it: the wall clock while its fixes
/// arrive live (the newest received within [`LIVE_WITHIN`] of its time), else
/// (a replayed shift) the time of its newest fix.
pub fn org_clock(
    newest_ts: DateTime<Utc>,
    newest_received_at: DateTime<Utc>,
    wall: DateTime<Utc>,
) -> DateTime<Utc> {
    if newest_received_at - newest_ts < LIVE_WITHIN {
        wall
    } else {
        newest_ts.min(wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceKind;
    use chrono::{Duration, TimeZone};

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_755_600 + s, 0).unwrap()
    }

    fn fix(age_s: i64, speed: f64, work: Option<bool>) -> LatestFix {
        LatestFix {
            ts: at(-age_s),
            speed_kmh: Some(speed),
            work,
        }
    }

    #[test]
    fn states_in_order_of_precedence() {
        let p = RuleParams::defaults(DeviceKind::Sweeper);
        let s = |f: &LatestFix, open: &[AlertKind]| display_state(at(0), f, open, &p);
        let f = fix(700, 10.0, Some(true));
        assert_eq!(s(&f, &[AlertKind::Sos]), DisplayState::Sos);
        assert_eq!(s(&f, &[AlertKind::OffArea]), DisplayState::Offline);
        let f = fix(5, 10.0, Some(true));
        assert_eq!(s(&f, &[AlertKind::Offline]), DisplayState::Offline);
        assert_eq!(
            s(&f, &[AlertKind::Idle, AlertKind::OffArea]),
            DisplayState::OffArea
        );
        assert_eq!(s(&f, &[AlertKind::Idle]), DisplayState::Idle);
        assert_eq!(s(&f, &[]), DisplayState::Working);
        assert_eq!(s(&fix(5, 10.0, Some(false)), &[]), DisplayState::Moving);
        assert_eq!(s(&fix(5, 0.5, None), &[]), DisplayState::Stopped);
    }

    /// Where the API and the page said 10 minutes and 2 km/h for everyone, the
    /// device's own rules now decide, as its alerts do.
    #[test]
    fn the_device_s_own_thresholds_decide() {
        let mut p = RuleParams::defaults(DeviceKind::Sweeper);
        p.offline_after_s = 1800;
        let f = fix(20 * 60, 10.0, Some(false));
        assert_eq!(display_state(at(0), &f, &[], &p), DisplayState::Moving);
        p.offline_after_s = 300;
        assert_eq!(display_state(at(0), &f, &[], &p), DisplayState::Offline);
        // A street cleaner walking at 1.5 km/h moves (moving_min_kmh 1.0).
        let worker = RuleParams::defaults(DeviceKind::Worker);
        let walk = fix(5, 1.5, None);
        assert_eq!(
            display_state(at(0), &walk, &[], &worker),
            DisplayState::Moving
        );
        let sweeper = RuleParams::defaults(DeviceKind::Sweeper);
        assert_eq!(
            display_state(at(0), &walk, &[], &sweeper),
            DisplayState::Stopped
        );
    }

    #[test]
    fn an_org_s_clock_is_the_wall_while_live_else_its_newest_fix() {
        let wall = at(0);
        let live = at(-5);
        assert_eq!(org_clock(live, live + Duration::seconds(1), wall), wall);
        let replayed = at(-86_400);
        assert_eq!(org_clock(replayed, wall, wall), replayed);
        assert_eq!(org_clock(at(60), at(60) + Duration::hours(1), wall), wall);
    }
}
