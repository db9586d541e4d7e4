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

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

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
    /// What readers render of this position, kept with it (see [`Rendered`]).
    #[serde(skip)]
    pub rendered: Rendered,
}

/// A reader's rendering of a position (the API's `/positions` writes the
/// parts of a device's feature that depend only on its fix), made by the
/// first reader that needs it and reused by every later one: a position is
/// read by many requests and only replaced by a newer fix, so for 100,000
/// devices a request renders only the positions that changed since the last.
/// Not part of a position's value: equal whether rendered or not.
#[derive(Default, Clone)]
pub struct Rendered(std::sync::OnceLock<(Box<[u8]>, usize)>);

impl Rendered {
    /// The rendering, made by `render` if it was not yet.
    pub fn get_or_init(&self, render: impl FnOnce() -> (Box<[u8]>, usize)) -> &(Box<[u8]>, usize) {
        self.0.get_or_init(render)
    }
}

impl PartialEq for Rendered {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Rendered"
        } else {
            "NotRendered"
        })
    }
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
            rendered: Rendered::default(),
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
    /// Shared with the view and every receiver: a receive clones the event,
    /// and 50 streams each receiving 10,000 positions a second made those
    /// clones (two strings each) a large share of the API's work.
    Position(Arc<Position>),
    Alert(StoredTransition),
    AlertUpdate(AlertUpdate),
}

/// Events buffered for a lagging consumer before it starts losing the oldest.
const EVENTS: usize = 16_384;

pub struct LiveView {
    /// By device id, so that a walk over them is in device order (what
    /// `/positions` answers) with no sort.
    positions: RwLock<Positions>,
    /// The last [`Snapshot`] taken: readers at the same version share it.
    snapshot: Mutex<Arc<Snapshot>>,
    events: broadcast::Sender<LiveEvent>,
}

#[derive(Default)]
struct Positions {
    by_device: BTreeMap<i32, Arc<Position>>,
    /// Counts the changes: a snapshot of the same version is the same.
    version: u64,
}

/// Every device's latest position at one moment, in device id order, shared
/// by the readers of that moment: taking one costs a reference count per
/// device, not a copy of each position (with 100,000 devices and 50 live
/// streams each looking every few seconds, those copies were most of what
/// the API allocated).
#[derive(Debug, Default)]
pub struct Snapshot {
    pub version: u64,
    pub positions: Vec<Arc<Position>>,
}

impl Default for LiveView {
    fn default() -> Self {
        Self {
            positions: RwLock::default(),
            snapshot: Mutex::default(),
            events: broadcast::channel(EVENTS).0,
        }
    }
}

impl LiveView {
    /// Every device's latest position (copies; see [`LiveView::snapshot`]).
    pub fn positions(&self) -> Vec<Position> {
        self.snapshot()
            .positions
            .iter()
            .map(|p| Position::clone(p))
            .collect()
    }

    /// Every device's latest position now, in device id order; taken again
    /// only when a position changed since the last one.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        let mut last = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        let map = self.positions.read().unwrap_or_else(|e| e.into_inner());
        if last.version != map.version || last.positions.len() != map.by_device.len() {
            *last = Arc::new(Snapshot {
                version: map.version,
                positions: map.by_device.values().cloned().collect(),
            });
        }
        last.clone()
    }

    pub fn position(&self, device_id: i32) -> Option<Position> {
        self.positions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_device
            .get(&device_id)
            .map(|p| Position::clone(p))
    }

    /// A receiver of everything from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// Records committed positions (only newer ones replace) and announces them.
    pub fn update(&self, latest: impl IntoIterator<Item = Position>) {
        let mut map = self.positions.write().unwrap_or_else(|e| e.into_inner());
        for p in latest {
            if map
                .by_device
                .get(&p.device_id)
                .is_none_or(|old| p.ts > old.ts)
            {
                let p = Arc::new(p);
                map.by_device.insert(p.device_id, p.clone());
                map.version += 1;
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

    #[test]
    fn a_snapshot_is_in_device_order_and_shared_until_a_position_changes() {
        let view = LiveView::default();
        view.update([3, 1, 2].map(|id| Position::of_fix("o", "d", &fix(id, 1))));
        let a = view.snapshot();
        let ids: Vec<i32> = a.positions.iter().map(|p| p.device_id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert!(
            Arc::ptr_eq(&a, &view.snapshot()),
            "nothing changed: the same one"
        );
        // An older fix changes nothing; a newer one makes a new snapshot.
        view.update([Position::of_fix("o", "d", &fix(2, 0))]);
        assert!(Arc::ptr_eq(&a, &view.snapshot()));
        view.update([Position::of_fix("o", "d", &fix(2, 5))]);
        let b = view.snapshot();
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(b.positions[1].ts, fix(2, 5).ts);
        assert_eq!(
            a.positions[1].ts,
            fix(2, 1).ts,
            "a reader's snapshot stays as taken"
        );
        assert_eq!(view.positions().len(), 3);
    }
}
