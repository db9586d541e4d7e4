//! The writer: the only owner of the engines and of the database writes of
//! ingest. For each batch, in one transaction: register unknown devices,
//! insert fixes, rejects and statuses, evaluate the fixes that were new
//! through the engines (in arrival order), write what they derived (alert
//! transitions, coverage, daily summaries) and, every few seconds, an engine
//! checkpoint; commit; then tell the pipeline, which releases the acks.
//! Each transaction runs in a `batch_commit` span (`messages`, `rows`,
//! `duration_ms`, `committed`).
//!
//! **Error classes** (`store::ErrorClass`):
//! - *transient* (connection lost, timeouts, shutdown, too many connections,
//!   serialization failures): retried with back-off, acks held, for as long
//!   as it takes;
//! - *data* (PostgreSQL refuses a value or a constraint): the batch is split
//!   in halves, committed part by part, down to the one message that fails
//!   alone. That message is stored in `rejected_messages` as `unstorable`
//!   with the database's message, and acknowledged; the rest is committed.
//!   When what the engines derived from a message is refused (not the message
//!   itself), its fixes are stored without the engines (`sweepwatch_engine_skipped_total`);
//! - *other* (schema, privileges): retried with back-off and logged as an
//!   error; nothing is dropped, and the stall watchdog makes it visible.
//!
//! If anything fails after the engines have seen the batch, their state is
//! thrown away and rebuilt from the database (checkpoint + replay) before the
//! retry, so no fix is ever evaluated twice.

mod beside;
mod rows;

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use live::{LiveView, Position};
use store::effects::{Effects, StoredTransition};
use store::{Batch, DeviceKey, DeviceRegistry, ErrorClass, FixRow, Pool, StoreError};
use tracing::{Instrument as _, debug, error, info, warn};

use crate::codec::{self, Message};
use crate::host::{EngineHost, engine_fix};
use crate::metrics::Metrics;
use crate::pipeline::{Item, Pipeline};
use crate::ratelog::RateLimitedLog;
use beside::{Beside, Rollups};
use rows::{Fallback, LastFix, Rows};

/// How often the wall-clock timers run and org configuration is checked for edits.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(1);
/// While more messages wait behind a batch, coverage and daily summaries are
/// written at most this often (see [`Writer::try_commit`]).
const ROLLUPS_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Writer {
    pool: Pool,
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
    /// When coverage and daily summaries were last written.
    rollups_at: Instant,
    /// More messages are queued behind the batch being committed.
    backlog: bool,
    /// How often the engines' state is checkpointed (bounds the replay after a crash).
    checkpoint_every: Duration,
    live: Arc<LiveView>,
    errors_log: RateLimitedLog,
    /// Terminals behind EMQX's JT/T 808 gateway, when that input is on.
    relays: Option<crate::jt808::relay::Relays>,
    /// Rollups and a checkpoint too large for a batch, being written beside it.
    beside: Beside,
}

/// What the writer is told about its place in the deployment.
pub(crate) struct WriterSettings {
    /// Org that unmapped OwnTracks phones are registered in.
    pub owntracks_org: String,
    /// The orgs this instance serves (empty: all).
    pub orgs: Vec<String>,
    pub checkpoint_every: Duration,
    /// The `[jt808]` settings, when EMQX's JT/T 808 JSON is taken.
    pub relays: Option<crate::config::Jt808Config>,
}

/// Where a commit attempt failed: before the engines saw anything, or after.
struct Failed {
    error: StoreError,
    in_effects: bool,
}

impl From<StoreError> for Failed {
    fn from(error: StoreError) -> Self {
        Self {
            error,
            in_effects: false,
        }
    }
}

impl From<tokio_postgres::Error> for Failed {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl Writer {
    pub fn new(
        pool: Pool,
        metrics: Metrics,
        settings: WriterSettings,
        live: Arc<LiveView>,
    ) -> Self {
        let WriterSettings {
            owntracks_org,
            orgs,
            checkpoint_every,
            relays,
        } = settings;
        Self {
            pool,
            metrics,
            owntracks_org,
            orgs,
            registry: DeviceRegistry::default(),
            last: HashMap::new(),
            host: None,
            config_version: None,
            last_checkpoint: Instant::now(),
            rollups_at: Instant::now(),
            backlog: false,
            checkpoint_every,
            live,
            errors_log: RateLimitedLog::new(Duration::from_secs(30), 5),
            relays: relays.map(crate::jt808::relay::Relays::new),
            beside: Beside::default(),
        }
    }

    /// Commits batches as the pipeline forms them, until it is closed and drained.
    pub async fn run(mut self, pipeline: Arc<Pipeline>) {
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING_EVERY);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                batch = pipeline.next_batch() => match batch {
                    Some(mut b) => {
                        self.backlog = pipeline.held() > b.items.len();
                        self.resolve_relays(&mut b.items).await;
                        self.commit(&b.items).await;
                        pipeline.committed(b.id);
                        // Sources that answer per item (JT/T 808) learn it now,
                        // in the order received.
                        for item in b.items {
                            if let Some(tx) = item.committed {
                                let _ = tx.send(());
                            }
                        }
                    }
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
        self.settle_beside().await;
        if let Err(e) = self.housekeeping_checkpoint(true).await {
            self.note_error(&e, "final checkpoint failed");
        }
    }

    /// Finds the devices of EMQX-relayed JT/T 808 positions, retrying until
    /// the database answers (their acks are held meanwhile, like a commit's).
    async fn resolve_relays(&mut self, items: &mut [Item]) {
        let Some(mut relays) = self.relays.take() else {
            return;
        };
        let mut backoff = Duration::from_millis(100);
        while let Err(e) = relays.resolve(&self.pool, items).await {
            self.note_error(
                &e,
                "JT/T 808 relay: finding a terminal's device failed; retrying",
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        self.relays = Some(relays);
    }

    fn note_error(&mut self, e: &StoreError, what: &str) {
        self.metrics.db_errors.inc();
        if self
            .errors_log
            .allow(|n| warn!(suppressed = n, "database errors (log lines suppressed)"))
        {
            match e.class() {
                ErrorClass::Other => error!(error = %e.describe(), "{what}"),
                _ => warn!(error = %e.describe(), "{what}"),
            }
        }
    }

    /// Writes one batch, whatever it takes: retries what may pass later,
    /// splits around what the database refuses (see the module docs).
    async fn commit(&mut self, items: &[Item]) {
        let keys: Vec<Option<DeviceKey>> = items.iter().map(|i| self.device_key(i)).collect();
        let mut fallback: HashMap<usize, Fallback> = HashMap::new();
        let mut todo: VecDeque<Range<usize>> = VecDeque::new();
        todo.push_back(0..items.len());
        let mut backoff = Duration::from_millis(100);
        while let Some(range) = todo.pop_front() {
            // One span per transaction (a batch, or a part of one split around
            // a refused message): its `rows` and `duration_ms`, and everything
            // the engines and the store do inside it.
            let span = tracing::info_span!(
                "batch_commit",
                messages = range.len(),
                rows = tracing::field::Empty,
                duration_ms = tracing::field::Empty,
                committed = tracing::field::Empty,
            );
            let started = Instant::now();
            let result = self
                .try_commit(items, range.clone(), &keys, &fallback)
                .instrument(span.clone())
                .await;
            span.record("duration_ms", started.elapsed().as_secs_f64() * 1000.0);
            span.record("committed", result.is_ok());
            let failed = match result {
                Ok(()) => continue,
                Err(f) => f,
            };
            let one = range.len() == 1;
            match failed.error.class() {
                ErrorClass::Data if !one => {
                    // Find the message(s) the database refuses: commit in halves.
                    let mid = range.start + range.len() / 2;
                    todo.push_front(mid..range.end);
                    todo.push_front(range.start..mid);
                    continue;
                }
                ErrorClass::Data
                    if !matches!(fallback.get(&range.start), Some(Fallback::Reject { .. })) =>
                {
                    let i = range.start;
                    let detail = failed.error.describe();
                    let fb = if failed.in_effects && !fallback.contains_key(&i) {
                        self.metrics.engine_skipped.inc();
                        error!(topic = %items[i].topic.escape_debug(), error = %detail,
                            "what the engines derived from this message cannot be stored; \
                             its fixes are stored without the engines");
                        Fallback::SkipEngine
                    } else {
                        self.metrics
                            .rejects
                            .with_label_values(&["unstorable"])
                            .inc();
                        warn!(topic = %items[i].topic.escape_debug(), error = %detail,
                            "the database refused a message; kept in rejected_messages as unstorable");
                        Fallback::Reject { detail }
                    };
                    fallback.insert(i, fb);
                }
                ErrorClass::Data => {
                    // Even its reject row was refused: not the data's fault after all.
                    self.note_error(
                        &failed.error,
                        "a message's reject row was refused; retrying",
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                ErrorClass::Transient | ErrorClass::Other => {
                    self.note_error(&failed.error, "batch commit failed; acks held, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            todo.push_front(range);
        }
    }

    /// The engines, rebuilt from the database when they are stale.
    async fn host(
        &mut self,
        client: &tokio_postgres::Client,
    ) -> Result<&mut EngineHost, StoreError> {
        if self.host.is_none() {
            // Not while a checkpoint may still be committing beside ingest.
            self.settle_beside().await;
            self.config_version = store::orgconfig::version(client).await?;
            self.host = Some(crate::restore::rebuild(client, &self.orgs).await?);
            self.last_checkpoint = Instant::now();
        }
        Ok(self.host.as_mut().expect("just rebuilt"))
    }

    /// One transaction for the messages `items[range]`.
    async fn try_commit(
        &mut self,
        items: &[Item],
        range: Range<usize>,
        keys: &[Option<DeviceKey>],
        fallback: &HashMap<usize, Fallback>,
    ) -> Result<(), Failed> {
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        self.host(&client).await?;
        self.resolve_devices(&client, range.clone(), keys, fallback)
            .await?;
        let registry = &self.registry;
        let Rows {
            batch,
            owner,
            last: new_last,
        } = rows::build(
            items,
            range.clone(),
            |i| keys[i].as_ref().and_then(|k| registry.get(k)),
            fallback,
            &self.last,
        );
        let rows = batch.fixes.len() + batch.rejects.len() + batch.statuses.len();
        tracing::Span::current().record("rows", rows);
        let (checkpoint_due, rollups_due) = self.due().await;
        let host = self.host.as_mut().expect("built above");
        for f in &batch.fixes {
            if let Some((org, name)) = self.registry.name(f.device_id) {
                host.register(f.device_id, org, name);
            }
        }
        let started = Instant::now();
        let tx = client.transaction().await?;
        let mut outcome = store::insert_batch(&tx, &batch).await?;
        // From here on the engines change: any failure makes them stale.
        let result = async {
            let mut fx = Effects::default();
            for (row, &idx) in batch.fixes.iter().zip(&owner) {
                if outcome.inserted.contains(&(row.device_id, row.ts))
                    && !matches!(fallback.get(&idx), Some(Fallback::SkipEngine))
                {
                    host.on_fix(row.device_id, &engine_fix(row), row.received_at, &mut fx);
                }
            }
            let mut rollups = Rollups::default();
            if rollups_due {
                host.collect(&mut rollups.fx);
                // Collected first: collecting marks the coverage it snapshots.
                rollups.checkpoint = checkpoint_due.then(|| host.checkpoint());
            }
            let stored = store::effects::write_effects(&tx, &fx).await?;
            let beside = if rollups.fit_in_batch() {
                rollups.write(&tx).await?;
                None
            } else {
                Some(rollups)
            };
            tx.commit().await?;
            Ok::<_, StoreError>((stored, beside))
        }
        .await;
        let (stored, beside) = match result {
            Ok(r) => r,
            Err(error) => {
                self.host = None;
                return Err(Failed {
                    // A connection lost at COMMIT is transient whatever the phase.
                    in_effects: true,
                    error,
                });
            }
        };
        self.last.extend(new_last);
        self.rollups_taken(checkpoint_due, rollups_due, beside);
        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.batch_rows.observe(rows as f64);
        self.publish_alerts(stored);
        let inserted = std::mem::take(&mut outcome.inserted);
        self.publish_positions(&batch, &inserted);
        self.count(items, range, &batch, &owner, inserted, fallback);
        Ok(())
    }

    /// Whether a checkpoint and rollups go with this batch: never while a
    /// write beside ingest is in flight (nothing is collected meanwhile).
    async fn due(&mut self) -> (bool, bool) {
        self.reap_beside().await;
        if self.beside.busy() {
            return (false, false);
        }
        let checkpoint_due = self.last_checkpoint.elapsed() >= self.checkpoint_every;
        (checkpoint_due, self.rollups_due(checkpoint_due))
    }

    /// After a commit: what was taken from the engines is written, or is
    /// handed to the write beside ingest (the batch it reflects is committed).
    fn rollups_taken(&mut self, checkpoint: bool, rollups: bool, beside: Option<Rollups>) {
        if let Some(r) = beside {
            self.beside.start(&self.pool, r);
        }
        if checkpoint {
            self.last_checkpoint = Instant::now();
        }
        if rollups {
            self.rollups_at = Instant::now();
        }
    }

    /// Gives every device of `items[range]` an id (registering unknown ones),
    /// except those of messages already refused.
    async fn resolve_devices(
        &mut self,
        client: &tokio_postgres::Client,
        range: Range<usize>,
        keys: &[Option<DeviceKey>],
        fallback: &HashMap<usize, Fallback>,
    ) -> Result<(), StoreError> {
        let wanted: Vec<&DeviceKey> = range
            .filter(|i| !matches!(fallback.get(i), Some(Fallback::Reject { .. })))
            .filter_map(|i| keys[i].as_ref())
            .collect();
        self.registry.resolve(client, &wanted).await?;
        self.metrics
            .devices_registered
            .set(self.registry.len() as i64);
        Ok(())
    }

    /// Whether this batch writes coverage and daily summaries (rollups). They
    /// change with nearly every fix and are rewritten whole: under load they
    /// are written at most every [`ROLLUPS_EVERY`], else with each batch, and
    /// always with a checkpoint (which must not move past fixes whose rollups
    /// are unwritten). Alerts always go with their batch. A crash in between
    /// loses nothing: the fixes are stored, the rebuild replays them from the
    /// checkpoint, and what the replay derives is written (`restore::rebuild`).
    fn rollups_due(&self, checkpoint_due: bool) -> bool {
        checkpoint_due || !self.backlog || self.rollups_at.elapsed() >= ROLLUPS_EVERY
    }

    /// The per-message and per-fix counters of a committed part of a batch.
    fn count(
        &self,
        items: &[Item],
        range: Range<usize>,
        batch: &Batch,
        owner: &[usize],
        mut inserted: store::Inserted,
        fallback: &HashMap<usize, Fallback>,
    ) {
        let committed = Utc::now();
        let mut stored_any = vec![false; range.len()];
        let (mut stored, mut duplicates) = (0, 0);
        for (row, &idx) in batch.fixes.iter().zip(owner) {
            if inserted.take(&(row.device_id, row.ts)) {
                stored_any[idx - range.start] = true;
                stored += 1;
                self.metrics
                    .ingest_lag
                    .observe((committed - row.ts).as_seconds_f64().max(0.0));
            } else {
                duplicates += 1;
            }
        }
        self.metrics.fixes_stored.inc_by(stored);
        self.metrics.fixes_duplicate.inc_by(duplicates);
        // Counted per label, then added once each: a labelled counter is
        // looked up (hashed, under a lock) on every `with_label_values`.
        let mut results: Vec<(&'static str, u64)> = Vec::with_capacity(3);
        for (idx, stored) in range.clone().zip(stored_any) {
            let label = rows::result_label(&items[idx], stored, fallback.get(&idx));
            match results.iter_mut().find(|(l, _)| *l == label) {
                Some((_, n)) => *n += 1,
                None => results.push((label, 1)),
            }
        }
        for (label, n) in results {
            self.metrics.messages.with_label_values(&[label]).inc_by(n);
        }
        debug!(
            fixes = batch.fixes.len(),
            rejects = batch.rejects.len(),
            "batch committed"
        );
    }

    /// The newest committed fix of each device in the batch, to the live view.
    fn publish_positions(&self, batch: &Batch, inserted: &store::Inserted) {
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
            Some(Position::of_fix(org, device, f))
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
        self.reap_beside().await;
        let mut client = self.pool.get().await?;
        let host = self.host(&client).await?;
        let (devices, bytes) = host.memory();
        let mut fx = Effects::default();
        host.tick_wall(Utc::now(), &mut fx);
        let mut rollups = Rollups::default();
        if !self.beside.busy() {
            let host = self.host.as_mut().expect("built above");
            host.collect(&mut rollups.fx);
        }
        self.metrics.engine_devices.set(devices as i64);
        self.metrics.engine_bytes.set(bytes as i64);
        if !fx.is_empty() || !rollups.fx.is_empty() {
            let in_tx = rollups.fit_in_batch();
            let result = async {
                let tx = client.transaction().await?;
                let stored = store::effects::write_effects(&tx, &fx).await?;
                if in_tx {
                    rollups.write(&tx).await?;
                }
                tx.commit().await?;
                Ok::<_, StoreError>(stored)
            }
            .await;
            match result {
                Ok(stored) => {
                    self.rollups_at = Instant::now();
                    if !in_tx {
                        self.beside.start(&self.pool, rollups);
                    }
                    self.publish_alerts(stored);
                }
                Err(e) => {
                    self.host = None;
                    return Err(e);
                }
            }
        }
        let version = store::orgconfig::version(&client).await?;
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
    /// With `force` (shutting down), whatever its size, in this transaction,
    /// once the write beside ingest in flight ended.
    async fn housekeeping_checkpoint(&mut self, force: bool) -> Result<(), StoreError> {
        if force {
            self.settle_beside().await;
        } else if self.beside.busy() || self.last_checkpoint.elapsed() < self.checkpoint_every {
            return Ok(());
        }
        let Some(host) = self.host.as_mut() else {
            return Ok(());
        };
        // Rollups not yet written go with the checkpoint (collected first:
        // collecting marks the coverage the checkpoint snapshots).
        let mut rollups = Rollups::default();
        host.collect(&mut rollups.fx);
        let cp = host.checkpoint();
        if cp.devices.is_empty() && cp.coverage.is_empty() && rollups.fx.is_empty() && !force {
            self.last_checkpoint = Instant::now();
            return Ok(());
        }
        rollups.checkpoint = Some(cp);
        if !force && !rollups.fit_in_batch() {
            self.beside.start(&self.pool, rollups);
            self.last_checkpoint = Instant::now();
            self.rollups_at = Instant::now();
            return Ok(());
        }
        let mut client = self.pool.get().await?;
        let result = async {
            let tx = client.transaction().await?;
            rollups.write(&tx).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await;
        match result {
            Ok(()) => {
                self.last_checkpoint = Instant::now();
                self.rollups_at = Instant::now();
                Ok(())
            }
            Err(e) => {
                self.host = None;
                Err(e)
            }
        }
    }

    /// Takes the end of the write beside ingest, if it has ended.
    async fn reap_beside(&mut self) {
        if let Some(r) = self.beside.finished().await {
            self.beside_ended(r);
        }
    }

    /// Waits for the write beside ingest in flight, if any.
    async fn settle_beside(&mut self) {
        if let Some(r) = self.beside.wait().await {
            self.beside_ended(r);
        }
    }

    fn beside_ended(&mut self, r: Result<Duration, StoreError>) {
        match r {
            Ok(took) => self.metrics.rollup_seconds.observe(took.as_secs_f64()),
            Err(e) => {
                // What it held is marked written in the engines: rebuild them
                // (the last checkpoint and the replay write it again).
                self.note_error(
                    &e,
                    "writing rollups and a checkpoint beside ingest failed; rebuilding the engines",
                );
                self.host = None;
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
            // Made a fix or backlog before the commit (`resolve_relays`).
            Message::StatusCleared { .. } | Message::Jt808Relay(_) => None,
            Message::OwnTracks { user, device, .. } => Some(DeviceKey::OwnTracks {
                user: user.as_str().to_owned(),
                device: device.as_str().to_owned(),
                default_org: self.owntracks_org.clone(),
            }),
        }
    }
}
