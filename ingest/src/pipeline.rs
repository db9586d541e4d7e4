//! The pipeline from the socket to the database, around the pure [`Flow`]:
//!
//! ```text
//! conn reader --received--> Flow --next_batch--> writer --commit--> committed --> acks --> conn writer
//!   (decodes)   (pauses reading)                (one transaction)              (in order)
//! ```
//!
//! [`Pipeline`] holds the flow behind a mutex (each call is a few hundred
//! nanoseconds of bookkeeping, never held across an await) and turns its
//! state changes into wake-ups: the reader waits on a `watch` of the reading
//! state, the writer on "a batch may be due", the connection's writer half on
//! "acks are ready". It also decodes each message as it is read (so the flow
//! counts rows, not messages) and keeps the pipeline metrics.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tracing::warn;

use crate::codec::{self, Message, Reject};
use crate::flow::{Batch, Changes, Flow, FlowLimits};
use crate::metrics::Metrics;
use crate::ratelog::RateLimitedLog;

/// A message as received and decoded, waiting to be committed.
pub(crate) struct Item {
    pub topic: String,
    pub payload: bytes::Bytes,
    pub received_at: DateTime<Utc>,
    pub decoded: Result<Message, Reject>,
    /// Told once the item is committed (stored, or kept as a reject): how a
    /// source without MQTT packet ids (a JT/T 808 terminal, [`crate::InProcess`])
    /// learns when to answer. Dropped uncommitted (shutdown, a connection purged) it says
    /// nothing, so nothing is answered.
    pub committed: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Item {
    /// Rows it will write (a backlog writes one per element).
    pub fn rows(&self) -> usize {
        match &self.decoded {
            Ok(Message::Backlog { fixes, rejects, .. }) => (fixes.len() + rejects.len()).max(1),
            Ok(Message::Jt808Relay(r)) => (r.fixes.len() + r.rejects.len()).max(1),
            _ => 1,
        }
    }
}

pub(crate) struct Pipeline {
    flow: Mutex<Flow<Item>>,
    reading: watch::Sender<bool>,
    batch_due: Notify,
    acks_ready: Notify,
    limits: codec::Limits,
    /// The topic filter of EMQX's JT/T 808 up-link (`[mqtt] emqx_jt808_topic`).
    emqx_jt808: Option<String>,
    metrics: Metrics,
    rejects_log: Mutex<RateLimitedLog>,
}

impl Pipeline {
    pub fn new(limits: FlowLimits, codec_limits: codec::Limits, metrics: Metrics) -> Self {
        Self {
            flow: Mutex::new(Flow::new(limits)),
            reading: watch::Sender::new(true),
            batch_due: Notify::new(),
            acks_ready: Notify::new(),
            limits: codec_limits,
            emqx_jt808: None,
            metrics,
            rejects_log: Mutex::new(RateLimitedLog::new(Duration::from_secs(10), 10)),
        }
    }

    /// Takes the messages of topics matching `filter` as EMQX's JT/T 808
    /// JSON ([`codec::emqx`]).
    pub fn with_emqx_jt808(mut self, filter: Option<String>) -> Self {
        self.emqx_jt808 = filter;
        self
    }

    fn flow(&self) -> std::sync::MutexGuard<'_, Flow<Item>> {
        self.flow.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decodes a message from the socket and queues it. `pkid` is `Some` for QoS 1.
    pub fn received(&self, topic: String, payload: bytes::Bytes, pkid: Option<u16>) {
        let received_at = Utc::now();
        let decoded = self.decode(&topic, &payload, received_at);
        self.queue(topic, payload, pkid, received_at, decoded, None);
    }

    /// A message handed over in-process ([`crate::InProcess`]): decoded and
    /// queued exactly as one read from the connection, with no packet id;
    /// `committed` fires once it is committed.
    pub fn received_in_process(
        &self,
        topic: String,
        payload: bytes::Bytes,
        committed: tokio::sync::oneshot::Sender<()>,
    ) {
        let received_at = Utc::now();
        let decoded = self.decode(&topic, &payload, received_at);
        self.queue(topic, payload, None, received_at, decoded, Some(committed));
    }

    fn decode(
        &self,
        topic: &str,
        payload: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Message, Reject> {
        match &self.emqx_jt808 {
            Some(filter) if rumqttc::matches(topic, filter) => {
                codec::decode_emqx(payload, &self.limits, received_at)
            }
            _ => codec::decode(topic, payload, &self.limits, received_at),
        }
    }

    /// A PUBLISH over the connection's packet limit: only its head was kept.
    pub fn received_oversize(
        &self,
        topic: String,
        head: bytes::Bytes,
        total: usize,
        limit: usize,
        pkid: Option<u16>,
    ) {
        let reject = Reject::new(
            codec::RejectReason::Oversize,
            format!(
                "payload is {total} bytes, over the connection's packet limit of {limit}; \
                 the first {} bytes are kept",
                head.len()
            ),
        );
        self.queue(topic, head, pkid, Utc::now(), Err(reject), None);
    }

    /// An item from a source other than the MQTT connection (the JT/T 808
    /// listener), decoded already; `committed` fires once it is committed.
    /// The caller reads only while [`Pipeline::reading`] says so.
    pub fn submit(
        &self,
        topic: String,
        payload: bytes::Bytes,
        decoded: Result<Message, Reject>,
        committed: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        self.queue(topic, payload, None, Utc::now(), decoded, committed);
    }

    fn queue(
        &self,
        topic: String,
        payload: bytes::Bytes,
        pkid: Option<u16>,
        received_at: DateTime<Utc>,
        decoded: Result<Message, Reject>,
        committed: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        if let Err(r) = &decoded {
            self.note_reject(&topic, r);
        }
        let bytes = payload.len() + topic.len();
        let item = Item {
            topic,
            payload,
            received_at,
            decoded,
            committed,
        };
        let rows = item.rows();
        let (changes, held) = {
            let mut f = self.flow();
            let c = f.received(item, pkid, rows, bytes, Instant::now());
            self.publish_reading(&f);
            (c, f.held())
        };
        self.metrics.queue_depth.set(held as i64);
        self.apply(changes);
        // The writer waits for the first queued message's age or a full
        // batch; only a message that changes either wakes it.
        if changes.batch_due {
            self.batch_due.notify_one();
        }
    }

    fn note_reject(&self, topic: &str, r: &Reject) {
        self.metrics
            .rejects
            .with_label_values(&[r.reason.as_str()])
            .inc();
        let mut log = self.rejects_log.lock().unwrap_or_else(|e| e.into_inner());
        if log.allow(|n| warn!(suppressed = n, "rejected messages (log lines suppressed)")) {
            warn!(topic = %topic.escape_debug(), reason = r.reason.as_str(), detail = %r.detail, "rejected message");
        }
    }

    /// Waits for the next batch; `None` once closed and everything committed.
    pub async fn next_batch(&self) -> Option<Batch<Item>> {
        loop {
            let due = self.batch_due.notified();
            let deadline = {
                let mut f = self.flow();
                if let Some(b) = f.next_batch(Instant::now()) {
                    return Some(b);
                }
                if f.drained() {
                    return None;
                }
                f.next_batch_at()
            };
            match deadline {
                Some(at) => {
                    tokio::select! {
                        _ = due => {}
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => due.await,
            }
        }
    }

    /// The batch is committed: its acks become due.
    pub fn committed(&self, id: u64) {
        let (changes, held) = {
            let mut f = self.flow();
            let c = f.committed(id, Instant::now());
            self.publish_reading(&f);
            (c, f.held())
        };
        self.metrics.queue_depth.set(held as i64);
        self.apply(changes);
        // A committed batch frees a place in flight: the next may be due.
        self.batch_due.notify_one();
    }

    /// Mirrors the flow's reading state into the watch the reader waits on.
    /// Called with the flow locked, so that two threads changing the state
    /// cannot publish it out of order (a stale "paused" would never end).
    fn publish_reading(&self, f: &Flow<Item>) {
        let now = f.reading();
        self.reading
            .send_if_modified(|r| std::mem::replace(r, now) != now);
    }

    fn apply(&self, c: Changes) {
        if c.paused {
            self.metrics.queue_pauses.inc();
        }
        if c.acks_ready {
            self.acks_ready.notify_one();
        }
    }

    /// The reading state, for the connection's reader.
    pub fn reading(&self) -> watch::Receiver<bool> {
        self.reading.subscribe()
    }

    /// Waits until acks may be ready (a permit is kept if nobody waits).
    pub async fn acks_ready(&self) {
        self.acks_ready.notified().await
    }

    pub fn take_acks(&self) -> Vec<u16> {
        self.flow().take_acks()
    }

    /// A connection is up; returns its epoch.
    pub fn connected(&self, session_present: bool) -> u64 {
        let (epoch, held) = {
            let mut f = self.flow();
            let e = f.connected(session_present);
            self.publish_reading(&f);
            (e, f.held())
        };
        self.metrics.queue_depth.set(held as i64);
        self.batch_due.notify_one();
        epoch
    }

    pub fn disconnected(&self) {
        self.flow().disconnected();
    }

    /// Shutdown: stop reading, batch what is held at once.
    pub fn close(&self) {
        let mut f = self.flow();
        f.close();
        self.publish_reading(&f);
        drop(f);
        self.batch_due.notify_one();
    }

    /// How long messages have been held without a commit, once at least `after`.
    pub fn stalled_for(&self, after: Duration) -> Option<Duration> {
        self.flow().stalled_for(Instant::now(), after)
    }

    pub fn held(&self) -> usize {
        self.flow().held()
    }
}
