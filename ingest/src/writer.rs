//! The writer: the only owner of the engines and of the database writes of
//! ingest. For each batch, in one transaction: register unknown devices,
//! insert fixes, rejects and statuses, evaluate the fixes that were new
//! through the engines (in arrival order), write what they derived (alert
//! transitions, coverage, daily summaries) and, every few seconds, an engine
//! checkpoint; commit; then acknowledge every message of the batch in order.
//!
//! If anything fails after the engines have seen the batch, their state is
//! thrown away and rebuilt from the database (checkpoint + replay) before the
//! retry, so no fix is ever evaluated twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, Publish, QoS};
use store::effects::{Effects, StoredTransition};
use store::{Batch, DeviceKey, DeviceRegistry, FixRow, Pool, RejectRow, StatusRow, StoreError};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::codec::{self, Fix, Message, Reject};
use crate::host::EngineHost;
use crate::live::{LiveView, Position};
use crate::metrics::Metrics;
use crate::mqtt::ConnectionState;
use crate::pipeline::{Item, Pending};
use crate::ratelog::RateLimitedLog;

/// How often the wall-clock timers run and org configuration is checked for edits.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(1);

/// Per-device memory of the last in-order fix, for `dist_m`/`dt_s`.
#[derive(Clone, Copy)]
struct LastFix {
    ts: DateTime<Utc>,
    lat: f64,
    lon: f64,
    received_at: DateTime<Utc>,
}

pub(crate) struct Writer {
    pool: Pool,
    client: AsyncClient,
    state: Arc<ConnectionState>,
    metrics: Metrics,
    owntracks_org: String,
    /// The orgs this instance serves (empty: all).
    orgs: Vec<String>,
    registry: DeviceRegistry,
    last: HashMap<i32, LastFix>,
    /// `None` when it must be rebuilt from the database before use.
    host: Option<EngineHost>,
    config_version: Option<DateTime<Utc>>,
    last_checkpoint: Instant,
    /// How often the engines' state is checkpointed (bounds the replay after a crash).
    checkpoint_every: Duration,
    live: Arc<LiveView>,
    errors_log: RateLimitedLog,
}

/// What the writer is told about its place in the deployment.
pub(crate) struct WriterSettings {
    /// Org that unmapped OwnTracks phones are registered in.
    pub owntracks_org: String,
    /// The orgs this instance serves (empty: all).
    pub orgs: Vec<String>,
    pub checkpoint_every: Duration,
}

impl Writer {
    pub fn new(
        pool: Pool,
        client: AsyncClient,
        state: Arc<ConnectionState>,
        metrics: Metrics,
        settings: WriterSettings,
        live: Arc<LiveView>,
    ) -> Self {
        let WriterSettings {
            owntracks_org,
            orgs,
            checkpoint_every,
        } = settings;
        Self {
            pool,
            client,
            state,
            metrics,
            owntracks_org,
            orgs,
            registry: DeviceRegistry::default(),
            last: HashMap::new(),
            host: None,
            config_version: None,
            last_checkpoint: Instant::now(),
            checkpoint_every,
            live,
            errors_log: RateLimitedLog::new(Duration::from_secs(30), 5),
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Pending>) {
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING_EVERY);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                pending = rx.recv() => match pending {
                    Some(p) => self.commit(p).await,
                    None => break,
                },
                _ = housekeeping.tick() => {
                    if let Err(e) = self.housekeeping().await {
                        self.note_error(&e, "engine housekeeping failed; will retry");
                    }
                }
            }
        }
        // Shutting down: leave a fresh checkpoint so the next start replays little.
        if let Err(e) = self.housekeeping_checkpoint(true).await {
            self.note_error(&e, "final checkpoint failed");
        }
    }

    fn note_error(&mut self, e: &StoreError, what: &str) {
        self.metrics.db_errors.inc();
        if self
            .errors_log
            .allow(|n| warn!(suppressed = n, "database errors (log lines suppressed)"))
        {
            warn!(error = %e, source = ?std::error::Error::source(e), "{what}");
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
                    self.note_error(&e, "batch commit failed; acks held, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.acknowledge(&pending).await;
    }

    /// The engines, rebuilt from the database when they are stale.
    async fn host(
        &mut self,
        client: &tokio_postgres::Client,
    ) -> Result<&mut EngineHost, StoreError> {
        if self.host.is_none() {
            self.config_version = org_config_version(client).await?;
            self.host = Some(crate::restore::rebuild(client, &self.orgs).await?);
            self.last_checkpoint = Instant::now();
        }
        Ok(self.host.as_mut().expect("just rebuilt"))
    }

    async fn try_commit(
        &mut self,
        pending: &Pending,
        keys: &[Option<DeviceKey>],
    ) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        self.host(&client).await?;
        let wanted: Vec<&DeviceKey> = keys.iter().flatten().collect();
        self.registry.resolve(&client, &wanted).await?;
        self.metrics
            .devices_registered
            .set(self.registry.len() as i64);
        let (batch, fix_owner) = self.build(pending, keys);
        let host = self.host.as_mut().expect("built above");
        for f in &batch.fixes {
            if let Some((org, name)) = self.registry.name(f.device_id) {
                host.register(f.device_id, org, name);
            }
        }
        let started = Instant::now();
        let checkpoint_due = self.last_checkpoint.elapsed() >= self.checkpoint_every;
        // From here on the engines change: any failure makes them stale.
        let result = async {
            let tx = client.transaction().await?;
            let mut outcome = store::insert_batch(&tx, &batch).await?;
            let mut fx = Effects::default();
            for row in &batch.fixes {
                if outcome.inserted.contains(&(row.device_id, row.ts)) {
                    host.on_fix(row.device_id, &engine_fix(row), row.received_at, &mut fx);
                }
            }
            host.collect(&mut fx);
            let stored = store::effects::write_effects(&tx, &fx).await?;
            if checkpoint_due {
                store::effects::write_checkpoint(&tx, &host.checkpoint()).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>((std::mem::take(&mut outcome.inserted), stored))
        }
        .await;
        let (mut inserted, stored) = match result {
            Ok(r) => r,
            Err(e) => {
                self.host = None;
                return Err(e);
            }
        };
        if checkpoint_due {
            self.last_checkpoint = Instant::now();
        }
        let committed = Utc::now();
        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .batch_rows
            .observe((batch.fixes.len() + batch.rejects.len() + batch.statuses.len()) as f64);
        self.publish_alerts(stored);
        self.publish_positions(&batch, &inserted);
        // Which messages stored something new.
        let mut stored_any = vec![false; pending.items.len()];
        for (row, &owner) in batch.fixes.iter().zip(&fix_owner) {
            if inserted.remove(&(row.device_id, row.ts)) {
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

    /// The newest committed fix of each device in the batch, to the live view.
    fn publish_positions(
        &self,
        batch: &Batch,
        inserted: &std::collections::HashSet<(i32, DateTime<Utc>)>,
    ) {
        let mut latest: HashMap<i32, &FixRow> = HashMap::new();
        for f in batch
            .fixes
            .iter()
            .filter(|f| inserted.contains(&(f.device_id, f.ts)))
        {
            if latest.get(&f.device_id).is_none_or(|l| f.ts > l.ts) {
                latest.insert(f.device_id, f);
            }
        }
        self.live.update(latest.into_values().filter_map(|f| {
            let (org, device) = self.registry.name(f.device_id)?;
            Some(Position {
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
            })
        }));
    }

    fn publish_alerts(&self, stored: Vec<StoredTransition>) {
        for t in stored {
            let kind = t.change.kind;
            if t.change.open {
                self.metrics.alerts_opened.with_label_values(&[kind]).inc();
            }
            self.live.announce(t);
        }
    }

    /// Once a second: wall-clock timers, configuration edits, idle checkpoints.
    async fn housekeeping(&mut self) -> Result<(), StoreError> {
        let recent = Utc::now() - chrono::TimeDelta::minutes(10);
        let online = self
            .last
            .values()
            .filter(|l| l.received_at > recent)
            .count();
        self.metrics.devices_online.set(online as i64);
        let mut client = self.pool.get().await?;
        let host = self.host(&client).await?;
        let mut fx = Effects::default();
        host.tick_wall(Utc::now(), &mut fx);
        host.collect(&mut fx);
        if !fx.is_empty() {
            let result = async {
                let tx = client.transaction().await?;
                let stored = store::effects::write_effects(&tx, &fx).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(stored)
            }
            .await;
            match result {
                Ok(stored) => self.publish_alerts(stored),
                Err(e) => {
                    self.host = None;
                    return Err(e);
                }
            }
        }
        let version = org_config_version(&client).await?;
        if version != self.config_version {
            info!("org configuration changed; reloading it into the engines");
            let host = self.host.as_mut().expect("built above");
            for cfg in store::orgconfig::load_all(&client).await? {
                host.configure(cfg);
            }
            self.config_version = version;
        }
        drop(client);
        self.housekeeping_checkpoint(false).await
    }

    /// Writes a checkpoint on its own when one is due and no batch wrote it.
    async fn housekeeping_checkpoint(&mut self, force: bool) -> Result<(), StoreError> {
        if !force && self.last_checkpoint.elapsed() < self.checkpoint_every {
            return Ok(());
        }
        let Some(host) = self.host.as_mut() else {
            return Ok(());
        };
        let cp = host.checkpoint();
        if cp.devices.is_empty() && cp.coverage.is_empty() && !force {
            self.last_checkpoint = Instant::now();
            return Ok(());
        }
        let mut client = self.pool.get().await?;
        let result = async {
            let tx = client.transaction().await?;
            store::effects::write_checkpoint(&tx, &cp).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await;
        match result {
            Ok(()) => {
                self.last_checkpoint = Instant::now();
                Ok(())
            }
            Err(e) => {
                self.host = None;
                Err(e)
            }
        }
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
                    // A backlog's order means nothing; evaluate it in time order.
                    let mut sorted: Vec<&Fix> = fixes.iter().collect();
                    sorted.sort_by_key(|f| f.ts);
                    for fix in sorted {
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
                    received_at,
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

/// Great-circle distance in metres (the `dist_m` stored with each fix).
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const R: f64 = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().asin()
}

/// A stored fix as the engine sees it. Live evaluation and replay both go
/// through this, from the stored (rounded) values, so they agree exactly.
pub fn engine_fix(r: &FixRow) -> geofence::Fix {
    geofence::Fix {
        ts: r.ts,
        lat: r.lat,
        lon: r.lon,
        speed_kmh: r.speed.map(f64::from),
        heading: r.heading.map(f64::from),
        acc_m: r.acc.map(f64::from),
        work: r.work,
        sos: r.sos,
        batt: r.batt.map(f64::from),
    }
}

/// Changes whenever an org's configuration is edited (import, API).
async fn org_config_version(
    client: &tokio_postgres::Client,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(client
        .query_one("SELECT max(updated_at) FROM orgs", &[])
        .await?
        .get(0))
}
