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

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::warn;

use crate::codec::{self, Message, Reject};
use crate::config::PipelineConfig;
use crate::metrics::Metrics;
use crate::mqtt::AckToken;
use crate::queue::InboundQueue;
use crate::ratelog::RateLimitedLog;

/// A decoded message waiting in a batch.
pub(crate) struct Item {
    pub topic: String,
    pub payload: bytes::Bytes,
    pub ack: AckToken,
    pub received_at: DateTime<Utc>,
    pub decoded: Result<Message, Reject>,
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
    pub items: Vec<Item>,
    pub rows: usize,
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
    queue: Arc<InboundQueue>,
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
            m = queue.pop() => m,
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
