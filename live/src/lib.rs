//! sweepwatch live view: the latest position of every device, kept in memory,
//! and a broadcast of what just happened (positions and alert transitions).
//!
//! - [`LiveView`]: the positions (only a newer fix replaces a device's) and
//!   the broadcast sender. Filled at start from the database
//!   ([`LiveView::restore`] over `store::queries::live::latest_fixes`), then
//!   updated by ingest's writer after each commit.
//! - [`LiveEvent`]: what is broadcast, in commit order: a [`Position`], an
//!   engine's alert transition, an operator's [`AlertUpdate`].
//!
//! Data flows in from `ingest` (committed fixes and transitions) and from
//! `api` (operators' alert updates), and out to `api` (`/positions`, the event
//! stream). Slow consumers lag and lose the oldest events; they never slow
//! ingest. No IO and no SQL here: the crate sits between `ingest` and `api`
//! so that the API never depends on the ingester.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::FixRow;
use store::effects::StoredTransition;
use store::queries::live::LatestFix;
use tokio::sync::broadcast;

/// A device's latest stored fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Position {
    pub device_id: i32,
    pub org: String,
    pub device: String,
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub speed: Option<f32>,
    pub heading: Option<f32>,
    pub work: Option<bool>,
    pub sos: bool,
    pub batt: Option<f32>,
    /// When the service received it (replayed fixes arrive long after their `ts`).
    pub received_at: DateTime<Utc>,
}

impl Position {
    /// A device's position at one of its stored fixes.
    pub fn of_fix(org: &str, device: &str, f: &FixRow) -> Self {
        Self {
            device_id: f.device_id,
            org: org.to_owned(),
            device: device.to_owned(),
            ts: f.ts,
            lat: f.lat,
            lon: f.lon,
            speed: f.speed,
            heading: f.heading,
            work: f.work,
            sos: f.sos,
            batt: f.batt,
            received_at: f.received_at,
        }
    }
}

/// An operator's acknowledgement or resolution of an alert, announced after
/// its commit (engine openings and clearings are [`LiveEvent::Alert`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertUpdate {
    pub alert_id: i64,
    pub org: String,
    /// `None` for a route alert.
    pub device_id: Option<i32>,
    pub kind: String,
    /// `acknowledged` or `resolved`.
    pub state: &'static str,
    pub at: DateTime<Utc>,
    /// The token's name.
    pub actor: String,
    pub note: Option<String>,
    pub district: Option<String>,
}

/// Something that just happened, in commit order.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    Position(Position),
    Alert(StoredTransition),
    AlertUpdate(AlertUpdate),
}

/// Events buffered for a lagging consumer before it starts losing the oldest.
const EVENTS: usize = 16_384;

pub struct LiveView {
    positions: RwLock<HashMap<i32, Position>>,
    events: broadcast::Sender<LiveEvent>,
}

impl Default for LiveView {
    fn default() -> Self {
        Self {
            positions: RwLock::default(),
            events: broadcast::channel(EVENTS).0,
        }
    }
}

impl LiveView {
    /// Every device's latest position.
    pub fn positions(&self) -> Vec<Position> {
        self.positions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn position(&self, device_id: i32) -> Option<Position> {
        self.positions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&device_id)
            .cloned()
    }

    /// A receiver of everything from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// Records committed positions (only newer ones replace) and announces them.
    pub fn update(&self, latest: impl IntoIterator<Item = Position>) {
        let mut map = self.positions.write().unwrap_or_else(|e| e.into_inner());
        for p in latest {
            if map.get(&p.device_id).is_none_or(|old| p.ts > old.ts) {
                map.insert(p.device_id, p.clone());
                let _ = self.events.send(LiveEvent::Position(p));
            }
        }
    }

    /// Announces an engine transition (an alert opened or cleared), once committed.
    pub fn announce(&self, t: StoredTransition) {
        let _ = self.events.send(LiveEvent::Alert(t));
    }

    /// Announces an operator's update of an alert, once committed.
    pub fn announce_update(&self, u: AlertUpdate) {
        let _ = self.events.send(LiveEvent::AlertUpdate(u));
    }

    /// Fills the view with each device's newest stored fix (at start, from
    /// `store::queries::live::latest_fixes`); returns how many.
    pub fn restore(&self, latest: &[LatestFix]) -> usize {
        self.update(
            latest
                .iter()
                .map(|l| Position::of_fix(&l.org, &l.device, &l.fix)),
        );
        latest.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fix(device_id: i32, secs: i64) -> FixRow {
        let ts = Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap();
        FixRow {
            device_id,
            ts,
            lat: 31.0,
            lon: 121.0,
            speed: None,
            heading: None,
            acc: None,
            work: None,
            sos: false,
            batt: None,
            seq: None,
            dist_m: None,
            dt_s: None,
            received_at: ts,
        }
    }

    #[test]
    fn only_a_newer_fix_replaces_a_position_and_each_change_is_announced() {
        let view = LiveView::default();
        let mut rx = view.subscribe();
        view.update([Position::of_fix("o", "d", &fix(1, 10))]);
        view.update([Position::of_fix("o", "d", &fix(1, 5))]);
        assert_eq!(view.position(1).unwrap().ts, fix(1, 10).ts);
        assert!(matches!(rx.try_recv(), Ok(LiveEvent::Position(p)) if p.ts == fix(1, 10).ts));
        assert!(rx.try_recv().is_err(), "an older fix is not announced");
    }

    #[test]
    fn restore_fills_every_device() {
        let view = LiveView::default();
        let latest: Vec<LatestFix> = (1..=3)
            .map(|id| LatestFix {
                org: "o".into(),
                device: format!("d{id}"),
                fix: fix(id, id.into()),
            })
            .collect();
        assert_eq!(view.restore(&latest), 3);
        assert_eq!(view.positions().len(), 3);
        assert_eq!(view.position(2).unwrap().device, "d2");
    }
}
