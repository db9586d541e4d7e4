//! The live view: the latest position of every device, kept in memory by the
//! writer after each commit, and a broadcast of what just happened (positions
//! and alert transitions) for live consumers such as the API's event stream.
//! Slow consumers lag and lose the oldest events; they never slow ingest.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::StoreError;
use store::effects::StoredTransition;
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
    pub(crate) fn update(&self, latest: impl IntoIterator<Item = Position>) {
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

    /// Fills the view from the database (each device's newest fix of the last day).
    pub async fn load(&self, client: &tokio_postgres::Client) -> Result<usize, StoreError> {
        let rows = client
            .query(
                "SELECT d.id, d.org, d.name, f.ts, f.lat, f.lon, f.speed, f.heading, f.work, f.sos, f.batt, f.received_at
                 FROM devices d CROSS JOIN LATERAL (
                     SELECT * FROM fixes WHERE device_id = d.id AND ts > now() - interval '1 day'
                     ORDER BY ts DESC LIMIT 1) f",
                &[],
            )
            .await?;
        let n = rows.len();
        self.update(rows.iter().map(|r| Position {
            device_id: r.get(0),
            org: r.get(1),
            device: r.get(2),
            ts: r.get(3),
            lat: r.get(4),
            lon: r.get(5),
            speed: r.get(6),
            heading: r.get(7),
            work: r.get(8),
            sos: r.get(9),
            batt: r.get(10),
            received_at: r.get(11),
        }));
        Ok(n)
    }
}
