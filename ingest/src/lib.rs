//! sweepwatch ingest: from the MQTT broker to the database, losing nothing.
//!
//! - [`codec`]: the MQTT contract v1 as a pure function, `(topic, bytes, now)`
//!   to a typed [`codec::Message`] or a typed [`codec::Reject`].
//! - [`mqtt`]: client options and the event-loop task (QoS 1, persistent
//!   session, manual acks; it never awaits anything but the socket).
//! - `pipeline`: the batcher (decode, group by size or age).
//! - `writer`: registers devices, writes each batch in one transaction together
//!   with what the geofence engines derive from it, then acknowledges in order.
//! - [`host`]: the engines of all orgs and their event-time clocks; `restore`
//!   rebuilds them after a restart (checkpoint + replay of stored fixes).
//! - [`live`]: latest positions in memory and a broadcast of positions and
//!   alert transitions as they are committed.
//! - [`metrics`]: the `sweepwatch_*` ingest metrics.
//!
//! [`run`] wires them: broker → event loop → batcher → writer → database, and
//! acknowledgements back to the broker only after commit. A crash at any point
//! loses nothing: what was not acknowledged is redelivered, and a fix stored
//! twice is stored once (`(device_id, ts)` is its key).

pub mod codec;
pub mod config;
pub mod gauges;
pub mod host;
pub mod live;
pub mod metrics;
pub mod mqtt;
mod pipeline;
mod queue;
mod ratelog;
mod restore;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use rumqttc::AsyncClient;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use config::{MqttConfig, PipelineConfig};
pub use metrics::Metrics;
pub use mqtt::ConnectionState;
pub use writer::{engine_fix, haversine_m};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("configuration: {0}")]
    Config(String),
}

/// Runs ingest until `shutdown` is cancelled, then stops reading, commits and
/// acknowledges what it holds (waiting at most `shutdown_grace_secs`), and
/// disconnects. Returns once everything has stopped.
pub async fn run(
    mqtt_cfg: &MqttConfig,
    pipeline_cfg: &PipelineConfig,
    pool: store::Pool,
    metrics: Metrics,
    state: Arc<ConnectionState>,
    live: Arc<live::LiveView>,
    shutdown: CancellationToken,
) -> Result<(), IngestError> {
    let opts = mqtt::options(mqtt_cfg)?;
    let (client, eventloop) = AsyncClient::new(opts, mqtt::REQUEST_CHANNEL);
    // OwnTracks phones belong to `owntracks_org`: only the instance serving it listens.
    let owntracks = mqtt_cfg.owntracks
        && (mqtt_cfg.orgs.is_empty() || mqtt_cfg.orgs.contains(&mqtt_cfg.owntracks_org));
    let filters = codec::subscription_filters(&mqtt_cfg.orgs, owntracks);
    info!(url = %mqtt_cfg.url, client_id = %mqtt_cfg.client_id, ?filters, "starting ingest");

    let queue = Arc::new(queue::InboundQueue::default());
    let (batch_tx, batch_rx) = mpsc::channel(pipeline_cfg.batches_in_flight.max(1));
    let stop_polling = CancellationToken::new();

    let task = mqtt::EventLoopTask {
        eventloop,
        client: client.clone(),
        filters,
        state: state.clone(),
        metrics: metrics.clone(),
        stop_reading: shutdown.clone(),
        stop_polling: stop_polling.clone(),
    };
    // The event loop gets a thread of its own: decoding, the engines and the
    // database work must never starve it of the CPU it needs to answer the
    // broker's keep-alive and to send acks.
    let (done_tx, mut event_loop) = tokio::sync::oneshot::channel::<()>();
    let q = queue.clone();
    std::thread::Builder::new()
        .name("mqtt-event-loop".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(task.run(q)),
                Err(e) => {
                    tracing::error!(error = %e, "could not start the MQTT event loop runtime")
                }
            }
            let _ = done_tx.send(());
        })
        .map_err(|e| IngestError::Config(format!("could not start the MQTT thread: {e}")))?;
    let batcher = tokio::spawn(pipeline::batcher(
        queue,
        batch_tx,
        pipeline_cfg.clone(),
        metrics.clone(),
    ));
    let writer = writer::Writer::new(
        pool,
        client.clone(),
        state,
        metrics,
        writer::WriterSettings {
            owntracks_org: mqtt_cfg.owntracks_org.clone(),
            orgs: mqtt_cfg.orgs.clone(),
            checkpoint_every: Duration::from_millis(pipeline_cfg.checkpoint_interval_ms),
        },
        live,
    );
    let mut writer = tokio::spawn(writer.run(batch_rx));

    // The writer ends only once the event loop stopped reading and everything
    // before that was committed and acknowledged.
    shutdown.cancelled().await;
    let grace = Duration::from_secs(pipeline_cfg.shutdown_grace_secs);
    match tokio::time::timeout(grace, &mut writer).await {
        Ok(_) => info!("ingest drained: everything received was committed and acknowledged"),
        Err(_) => {
            warn!(
                ?grace,
                "shutdown grace elapsed before the last batch committed; the broker keeps what was not acknowledged"
            );
            writer.abort();
        }
    }
    batcher.abort();
    // Disconnect goes through the same queue as the acks, so it follows them onto the wire.
    let _ = client.try_disconnect();
    if tokio::time::timeout(Duration::from_secs(3), &mut event_loop)
        .await
        .is_err()
    {
        stop_polling.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), event_loop).await;
    }
    Ok(())
}
