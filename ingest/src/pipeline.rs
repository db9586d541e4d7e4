//! The pipeline from the event loop to the database:
//!
//! ```text
//! event loop --Inbound--> batcher --Pending--> writer --commit--> acks (in order)
//!             (65k+ queue)  decode   (2 batches)  devices, rows, one transaction
//! ```
//!
//! The batcher decodes and groups messages, closing a batch on size or age.
//! The writer resolves device ids, builds the rows, commits them in one
//! transaction (retrying, with back-off, for as long as the database is down),
//! and only then acknowledges every message of the batch in the order received.
//! While it retries, batches back up, the inbound queue fills, acks stop, and
//! the broker holds the rest: back-pressure reaches the devices' broker, never
//! memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, Publish, QoS};
use store::{Batch, DeviceKey, DeviceRegistry, FixRow, Pool, RejectRow, StatusRow};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::codec::{self, Fix, Message, Reject};
use crate::config::PipelineConfig;
use crate::metrics::Metrics;
use crate::mqtt::{AckToken, ConnectionState, Inbound};
use crate::ratelog::RateLimitedLog;

/// A decoded message waiting in a batch.
struct Item {
    topic: String,
    payload: bytes::Bytes,
    ack: AckToken,
    received_at: DateTime<Utc>,
    decoded: Result<Message, Reject>,
}

impl Item {
    fn rows(&self) -> usize {
        match &self.decoded {
            Ok(Message::Backlog { fixes, rejects, .. }) => fixes.len() + rejects.len(),
            _ => 1,
        }
    }
}

/// A batch on its way to the writer.
pub(crate) struct Pending {
    items: Vec<Item>,
    rows: usize,
    opened: Instant,
}

impl Pending {
    fn new() -> Self {
        Self {
            items: Vec::new(),
            rows: 0,
            opened: Instant::now(),
        }
    }
}

pub(crate) async fn batcher(
    mut rx: mpsc::Receiver<Inbound>,
    tx: mpsc::Sender<Pending>,
    cfg: PipelineConfig,
    metrics: Metrics,
) {
    let limits = codec::limits_for_retention(cfg.retention_days);
    let max_age = Duration::from_millis(cfg.batch_max_age_ms);
    let mut pending = Pending::new();
    let mut rejects_log = RateLimitedLog::new(Duration::from_secs(10), 10);
    loop {
        let deadline = tokio::time::Instant::from_std(pending.opened + max_age);
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = tokio::time::sleep_until(deadline), if !pending.items.is_empty() => {
                let full = std::mem::replace(&mut pending, Pending::new());
                if tx.send(full).await.is_err() { return; }
                continue;
            }
        };
        let Some(m) = msg else { break };
        let decoded = codec::decode(&m.topic, &m.payload, &limits, Utc::now());
        if let Err(r) = &decoded {
            metrics
                .rejects
                .with_label_values(&[r.reason.as_str()])
                .inc();
            if rejects_log.allow(|n| {
                warn!(
                    suppressed = n,
                    "rejected MQTT messages (log lines suppressed)"
                )
            }) {
                warn!(topic = %m.topic, reason = r.reason.as_str(), detail = %r.detail, "rejected MQTT message");
            }
        }
        if pending.items.is_empty() {
            pending.opened = Instant::now();
        }
        let item = Item {
            topic: m.topic,
            payload: m.payload,
            ack: m.ack,
            received_at: m.received_at,
            decoded,
        };
        pending.rows += item.rows();
        pending.items.push(item);
        if pending.rows >= cfg.batch_max_rows {
            let full = std::mem::replace(&mut pending, Pending::new());
            if tx.send(full).await.is_err() {
                return;
            }
        }
    }
    if !pending.items.is_empty() {
        let _ = tx.send(pending).await;
    }
}

/// Per-device memory of the last in-order fix, for `dist_m`/`dt_s`.
#[derive(Clone, Copy)]
struct LastFix {
    ts: DateTime<Utc>,
    lat: f64,
    lon: f64,
}

pub(crate) struct Writer {
    pub pool: Pool,
    pub client: AsyncClient,
    pub state: std::sync::Arc<ConnectionState>,
    pub metrics: Metrics,
    pub owntracks_org: String,
    registry: DeviceRegistry,
    last: HashMap<i32, LastFix>,
    errors_log: RateLimitedLog,
}

impl Writer {
    pub fn new(
        pool: Pool,
        client: AsyncClient,
        state: std::sync::Arc<ConnectionState>,
        metrics: Metrics,
        owntracks_org: String,
    ) -> Self {
        Self {
            pool,
            client,
            state,
            metrics,
            owntracks_org,
            registry: DeviceRegistry::default(),
            last: HashMap::new(),
            errors_log: RateLimitedLog::new(Duration::from_secs(30), 5),
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Pending>) {
        while let Some(pending) = rx.recv().await {
            self.commit(pending).await;
        }
    }

    /// Writes one batch, retrying until it is committed, then acknowledges it.
    async fn commit(&mut self, pending: Pending) {
        let mut backoff = Duration::from_millis(100);
        let keys: Vec<Option<DeviceKey>> =
            pending.items.iter().map(|i| self.device_key(i)).collect();
        loop {
            match self.try_commit(&pending, &keys).await {
                Ok(()) => break,
                Err(e) => {
                    self.metrics.db_errors.inc();
                    if self.errors_log.allow(|n| {
                        warn!(
                            suppressed = n,
                            "batch commit failures (log lines suppressed)"
                        )
                    }) {
                        warn!(error = %e, source = ?std::error::Error::source(&e), retry_in = ?backoff, rows = pending.rows, "batch commit failed; acks held, retrying");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.acknowledge(&pending).await;
    }

    async fn try_commit(
        &mut self,
        pending: &Pending,
        keys: &[Option<DeviceKey>],
    ) -> Result<(), store::StoreError> {
        let mut client = self.pool.get().await?;
        let wanted: Vec<&DeviceKey> = keys.iter().flatten().collect();
        self.registry.resolve(&client, &wanted).await?;
        self.metrics
            .devices_registered
            .set(self.registry.len() as i64);
        let (batch, fix_owner) = self.build(pending, keys);
        let started = Instant::now();
        let mut outcome = store::write_batch(&mut client, &batch).await?;
        let committed = Utc::now();
        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .batch_rows
            .observe((batch.fixes.len() + batch.rejects.len() + batch.statuses.len()) as f64);
        // Which messages stored something new.
        let mut stored_any = vec![false; pending.items.len()];
        for (row, &owner) in batch.fixes.iter().zip(&fix_owner) {
            if outcome.inserted.remove(&(row.device_id, row.ts)) {
                stored_any[owner] = true;
                self.metrics.fixes_stored.inc();
                self.metrics
                    .ingest_lag
                    .observe((committed - row.ts).as_seconds_f64().max(0.0));
            } else {
                self.metrics.fixes_duplicate.inc();
            }
        }
        for (item, stored) in pending.items.iter().zip(stored_any) {
            let result = match &item.decoded {
                Err(_) => "rejected",
                Ok(Message::Fix { .. } | Message::OwnTracks { .. }) if !stored => "duplicate",
                Ok(Message::Backlog { fixes, .. }) if fixes.is_empty() => "rejected",
                Ok(Message::Backlog { .. }) if !stored => "duplicate",
                Ok(_) => "accepted",
            };
            self.metrics.messages.with_label_values(&[result]).inc();
        }
        debug!(
            fixes = batch.fixes.len(),
            rejects = batch.rejects.len(),
            "batch committed"
        );
        Ok(())
    }

    fn device_key(&self, item: &Item) -> Option<DeviceKey> {
        let topic_key = |addr: &codec::DeviceAddr| DeviceKey::Topic {
            org: addr.org.as_str().to_owned(),
            name: addr.device.as_str().to_owned(),
        };
        match item.decoded.as_ref().ok()? {
            Message::Fix { addr, .. }
            | Message::Backlog { addr, .. }
            | Message::Status { addr, .. } => Some(topic_key(addr)),
            Message::StatusCleared { .. } => None,
            Message::OwnTracks { user, device, .. } => Some(DeviceKey::OwnTracks {
                user: user.as_str().to_owned(),
                device: device.as_str().to_owned(),
                default_org: self.owntracks_org.clone(),
            }),
        }
    }

    /// The rows for a batch, and for each fix row the index of its message.
    fn build(&mut self, pending: &Pending, keys: &[Option<DeviceKey>]) -> (Batch, Vec<usize>) {
        let mut batch = Batch::default();
        let mut owner = Vec::new();
        for (idx, (item, key)) in pending.items.iter().zip(keys).enumerate() {
            let device_id = key.as_ref().and_then(|k| self.registry.get(k));
            match (&item.decoded, device_id) {
                (Err(r), _) => batch.rejects.push(reject_row(item, &item.payload, r, None)),
                (Ok(Message::Fix { fix, .. } | Message::OwnTracks { fix, .. }), Some(id)) => {
                    batch.fixes.push(self.fix_row(id, fix, item.received_at));
                    owner.push(idx);
                }
                (Ok(Message::Backlog { fixes, rejects, .. }), Some(id)) => {
                    for fix in fixes {
                        batch.fixes.push(self.fix_row(id, fix, item.received_at));
                        owner.push(idx);
                    }
                    for e in rejects {
                        batch
                            .rejects
                            .push(reject_row(item, &e.raw, &e.reject, Some(e.index)));
                    }
                }
                (Ok(Message::Status { online, status, .. }), Some(id)) => {
                    batch.statuses.push(StatusRow {
                        device_id: id,
                        online: *online,
                        status: status.clone(),
                        received_at: item.received_at,
                    })
                }
                (Ok(Message::StatusCleared { .. }), _) => {}
                // resolve() gives every key an id or fails; this is unreachable in practice
                // and the message is still kept, as a reject.
                (Ok(_), None) => batch.rejects.push(reject_row(
                    item,
                    &item.payload,
                    &Reject::new(
                        codec::RejectReason::InvalidTopic,
                        "device could not be registered",
                    ),
                    None,
                )),
            }
        }
        (batch, owner)
    }

    fn fix_row(&mut self, device_id: i32, fix: &Fix, received_at: DateTime<Utc>) -> FixRow {
        let prev = self.last.get(&device_id).copied();
        let (dist_m, dt_s) = match prev {
            Some(p) if fix.ts > p.ts => (
                Some(haversine_m(p.lat, p.lon, fix.lat, fix.lon) as f32),
                Some((fix.ts - p.ts).as_seconds_f64() as f32),
            ),
            _ => (None, None),
        };
        if prev.is_none_or(|p| fix.ts > p.ts) {
            self.last.insert(
                device_id,
                LastFix {
                    ts: fix.ts,
                    lat: fix.lat,
                    lon: fix.lon,
                },
            );
        }
        FixRow {
            device_id,
            ts: fix.ts,
            lat: fix.lat,
            lon: fix.lon,
            speed: fix.speed.map(|x| x as f32),
            heading: fix.heading.map(|x| x as f32),
            acc: fix.acc.map(|x| x as f32),
            work: fix.work,
            sos: fix.sos,
            batt: fix.batt.map(|x| x as f32),
            seq: fix.seq,
            dist_m,
            dt_s,
            received_at,
        }
    }

    /// Acknowledges every message of a committed batch, in the order received.
    async fn acknowledge(&self, pending: &Pending) {
        let epoch = self.state.epoch();
        self.metrics.queue_depth.sub(pending.items.len() as i64);
        for item in &pending.items {
            if item.ack.qos == QoS::AtMostOnce || item.ack.epoch != epoch {
                continue;
            }
            let mut p = Publish::new("", item.ack.qos, Vec::new());
            p.pkid = item.ack.pkid;
            if self.client.ack(&p).await.is_err() {
                // The event loop is gone (shutdown): the broker will redeliver.
                return;
            }
        }
    }
}

fn reject_row(item: &Item, payload: &[u8], r: &Reject, element: Option<usize>) -> RejectRow {
    RejectRow {
        topic: item.topic.clone(),
        payload: payload.to_vec(),
        reason: r.reason.as_str(),
        detail: match element {
            Some(i) => format!("backlog element {i}: {}", r.detail),
            None => r.detail.clone(),
        },
        received_at: item.received_at,
    }
}

/// Great-circle distance in metres.
fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const R: f64 = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().asin()
}
