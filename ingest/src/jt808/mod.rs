//! The JT/T 808 listener: vehicle terminals over TCP, through the same
//! pipeline, writer and engines as MQTT devices, answered only after commit.
//!
//! ```text
//! terminal ═TCP═ conn: Splitter → Reassembler → Message::decode → Session::decide
//!                  │ register / authenticate (store::jt808, by phone)
//!                  │ reports ──Pipeline::submit(item + oneshot)──▶ Flow ──▶ writer ──COMMIT
//!                  ◀── 0x8001 ok, in order, when the oneshot fires ◀──────────────┘
//! ```
//!
//! - [`jt808`] (the codec crate) turns bytes into frames and messages;
//! - `session` decides what each frame means (pure): answer now, look the
//!   terminal up, or submit and answer after commit;
//! - `report` turns location reports into the contract's fixes (pure);
//! - `conn` is the IO shell of one connection, `run` the accept loop.
//!
//! **Acknowledge after commit.** A location report (0x0200) or batch (0x0704)
//! becomes one pipeline item carrying a oneshot sender; the writer fires it
//! after the batch holding the item is committed (stored, duplicate, or kept
//! as a reject). The connection keeps its answers due in a FIFO and writes
//! the platform general response (0x8001) for the oldest only when its
//! oneshot fires, so answers go out in the order the reports came. A commit
//! that fails is retried by the writer with the answer held; a connection
//! that ends first loses its answers, and the terminal resends: `(device, ts)`
//! makes the second copy a no-op.
//!
//! **Bounds.** Connections (`max_connections`; one more is closed at once),
//! reports in flight per connection (`max_in_flight`; the connection stops
//! reading until the oldest is answered), the pipeline's own held limit
//! (every connection stops reading while it is paused), frames (the codec's
//! 2,090-byte run; longer runs are refused as `too_long`), split messages (2
//! open, `max_message_bytes` each), idle connections (`idle_timeout_secs`
//! without a byte while reading), garbage (`max_bad_frames` bad frames in a
//! row, or that many maximum frames' worth of bytes, closes the connection).

mod conn;
pub(crate) mod metrics;
pub(crate) mod relay;
pub(crate) mod report;
mod session;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use crate::config::Jt808Config;
pub use jt808::WorkBit;
pub use metrics::Jt808Metrics;

use crate::codec;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;

/// A bound listener and its configuration, for [`crate::run`].
pub struct Jt808Listener {
    pub listener: TcpListener,
    pub config: Jt808Config,
}

/// What every connection shares.
pub(crate) struct Shared {
    pub cfg: Jt808Config,
    pub pipeline: Arc<Pipeline>,
    pub pool: store::Pool,
    pub metrics: Metrics,
    pub limits: codec::Limits,
    /// Ends the connections (after the writer has drained, so their last
    /// answers are written first).
    pub stop: CancellationToken,
}

/// The device kinds a terminal may be registered as.
pub const KINDS: [&str; 5] = ["sweeper", "washer", "collector", "worker", "unknown"];

/// Checks the configuration before anything listens.
pub fn check_config(cfg: &Jt808Config) -> Result<(), String> {
    if codec::OrgId::parse(&cfg.org).is_none() {
        return Err(format!(
            "jt808.org {:?} is not an org ([a-z0-9-]{{1,32}})",
            cfg.org
        ));
    }
    if !KINDS.contains(&cfg.kind.as_str()) {
        return Err(format!("jt808.kind {:?} is not one of {KINDS:?}", cfg.kind));
    }
    if let Some(k) = cfg.work.keys().find(|k| !KINDS.contains(&k.as_str())) {
        return Err(format!(
            "jt808.work: {k:?} is not a device kind ({KINDS:?})"
        ));
    }
    if let Some(p) = cfg.work_by_phone.keys().find(|p| {
        jt808::Phone::new(p)
            .map(|ph| ph.as_str() != p.as_str())
            .unwrap_or(true)
    }) {
        return Err(format!(
            "jt808.work_by_phone: {p:?} is not a phone number (1 to 20 digits, no leading zeros)"
        ));
    }
    Ok(())
}

/// Accepts terminals until `shutdown`; the connections end at `stop` (after
/// the writer has committed what they submitted). Returns when all have ended.
pub(crate) async fn run(
    listener: Jt808Listener,
    pipeline: Arc<Pipeline>,
    pool: store::Pool,
    metrics: Metrics,
    limits: codec::Limits,
    shutdown: CancellationToken,
    stop: CancellationToken,
) {
    let Jt808Listener { listener, config } = listener;
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let shared = Arc::new(Shared {
        cfg: config,
        pipeline,
        pool,
        metrics,
        limits,
        stop,
    });
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, org = %shared.cfg.org, "JT/T 808 listening");
    }
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, or a connection reset while queued:
                // the listener itself is fine; pause so a persistent error
                // does not spin.
                warn!(error = %e, "JT/T 808 accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            shared.metrics.jt808.refused.inc();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        conns.spawn(async move {
            shared.metrics.jt808.connections.inc();
            let reason = conn::serve(stream, peer, &shared).await;
            shared.metrics.jt808.connections.dec();
            shared
                .metrics
                .jt808
                .closed
                .with_label_values(&[reason])
                .inc();
            drop(slot);
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}
