//! sweepwatch ingest: from the MQTT broker to the database, losing nothing
//! and never stalling.
//!
//! - [`codec`]: the MQTT contract v1 as a pure function, `(topic, bytes, now)`
//!   to a typed [`codec::Message`] or a typed [`codec::Reject`].
//! - [`flow`]: flow control as a pure state machine: the queue, batches,
//!   acknowledgements in order, connection epochs, when to pause reading.
//! - [`jt808`]: the JT/T 808 listener: vehicle terminals over TCP, feeding
//!   the same pipeline and answering a report only after its commit.
//! - [`mqtt`]: the connection (MQTT 3.1.1, QoS 1, persistent session): a
//!   reader half that reads only while the flow allows it and a writer half
//!   that sends acks and pings whatever the reader does.
//! - `pipeline`: the flow behind a lock, with the wake-ups between the
//!   connection and the writer; decodes each message as it is read.
//! - `writer`: registers devices, writes each batch in one transaction together
//!   with what the geofence engines derive from it, classifies database errors
//!   (retry, or split the batch around a refused message), then releases the acks.
//! - [`host`]: the engines of all orgs and their event-time clocks; `restore`
//!   rebuilds them after a restart (checkpoint + replay of stored fixes).
//! - `watchdog`: says when messages are held and nothing is committed
//!   although the database answers (`/readyz`, `sweepwatch_ingest_stalled`).
//! - [`metrics`]: the `sweepwatch_*` ingest metrics.
//! - [`InProcess`]: the same pipeline and writer fed in-process (topic +
//!   payload, no broker), for the tests of the engine's behaviour.
//!
//! The writer hands committed positions and alert transitions to the `live`
//! crate's view, which the API reads.
//!
//! [`run`] wires them: broker → connection → pipeline → writer → database, and
//! acknowledgements back to the broker only after commit. A crash at any point
//! loses nothing: what was not acknowledged is redelivered, and a fix stored
//! twice is stored once (`(device_id, ts)` is its key).

pub mod codec;
pub mod config;
pub mod flow;
pub mod gauges;
pub mod host;
mod inprocess;
pub mod jt808;
pub mod metrics;
pub mod mqtt;
mod pipeline;
mod ratelog;
mod restore;
mod watchdog;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use config::{Jt808Config, MqttConfig, PipelineConfig};
pub use host::engine_fix;
pub use inprocess::InProcess;
pub use jt808::Jt808Listener;
pub use metrics::Metrics;
pub use mqtt::ConnectionState;
pub use watchdog::IngestStatus;

/// The filter of EMQX's JT/T 808 up-link to subscribe to, if that input is on
/// and this instance serves `[jt808] org`.
fn emqx_jt808_filter(
    mqtt_cfg: &MqttConfig,
    jt808_cfg: &Jt808Config,
) -> Result<Option<String>, IngestError> {
    let filter = mqtt_cfg.emqx_jt808_topic.trim();
    if filter.is_empty() {
        return Ok(None);
    }
    if !rumqttc::valid_filter(filter) {
        return Err(IngestError::Config(format!(
            "mqtt.emqx_jt808_topic {filter:?} is not an MQTT topic filter"
        )));
    }
    jt808::check_config(jt808_cfg).map_err(IngestError::Config)?;
    let served = mqtt_cfg.orgs.is_empty() || mqtt_cfg.orgs.contains(&jt808_cfg.org);
    Ok(served.then(|| filter.to_owned()))
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("the {0} ended unexpectedly: {1}")]
    Task(&'static str, String),
    #[error("no subscription of this instance matches the topic {0:?}")]
    NotSubscribed(String),
}

/// Runs ingest until `shutdown` is cancelled, then stops reading, commits and
/// acknowledges what it holds (waiting at most `shutdown_grace_secs`), and
/// disconnects. Returns once everything has stopped.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    mqtt_cfg: &MqttConfig,
    pipeline_cfg: &PipelineConfig,
    pool: store::Pool,
    metrics: Metrics,
    state: Arc<ConnectionState>,
    status: Arc<IngestStatus>,
    live: Arc<live::LiveView>,
    jt808: Option<Jt808Listener>,
    jt808_cfg: &Jt808Config,
    shutdown: CancellationToken,
    step_down: CancellationToken,
) -> Result<(), IngestError> {
    let emqx_jt808 = emqx_jt808_filter(mqtt_cfg, jt808_cfg)?;
    let params = connect_params(mqtt_cfg, emqx_jt808.clone())?;
    let codec_limits = codec::limits_for_retention(pipeline_cfg.retention_days);
    let pipeline = Arc::new(
        pipeline::Pipeline::new(
            flow_limits(pipeline_cfg),
            codec_limits.clone(),
            metrics.clone(),
        )
        .with_emqx_jt808(emqx_jt808.clone()),
    );
    let stop_connection = CancellationToken::new();
    let connection = spawn_connection(
        params,
        pipeline.clone(),
        state,
        metrics.clone(),
        stop_connection.clone(),
    )?;
    let settings = writer_settings(mqtt_cfg, pipeline_cfg, jt808_cfg, emqx_jt808.is_some());
    let writer = writer::Writer::new(pool.clone(), metrics.clone(), settings, live);
    let writer = tokio::spawn(writer.run(pipeline.clone()));
    // Terminals stop being accepted at shutdown; their connections end only
    // after the writer has drained, so they write the answers of the last commits.
    let stop_terminals = CancellationToken::new();
    let stop_accepting = shutdown.child_token();
    let terminals = jt808.map(|l| {
        tokio::spawn(jt808::run(
            l,
            pipeline.clone(),
            pool.clone(),
            metrics.clone(),
            codec_limits.clone(),
            stop_accepting.clone(),
            stop_terminals.clone(),
        ))
    });
    let watchdog = tokio::spawn(watchdog::run(
        pipeline.clone(),
        pool,
        status,
        metrics,
        Duration::from_secs(pipeline_cfg.stall_after_secs.max(1)),
        shutdown.clone(),
    ));
    let mut running = Running {
        pipeline,
        writer,
        watchdog,
        terminals,
        connection,
        stop_connection,
        stop_accepting,
        stop_terminals,
    };

    // The writer ends only once the pipeline is closed and everything received
    // before that was committed.
    let ended_early = tokio::select! {
        _ = shutdown.cancelled() => None,
        _ = step_down.cancelled() => {
            running.abandon().await;
            return Ok(());
        }
        r = &mut running.writer => Some(match r {
            Ok(()) => "returned".to_owned(),
            Err(e) => e.to_string(),
        }),
    };
    running.pipeline.close();
    if ended_early.is_none() {
        running
            .drain(Duration::from_secs(pipeline_cfg.shutdown_grace_secs))
            .await;
    }
    running.close().await;
    match ended_early {
        Some(why) => Err(IngestError::Task("writer", why)),
        None => Ok(()),
    }
}

/// What the writer needs to know of the configuration (`relays`: EMQX's JT/T
/// 808 input is on, so its terminals are mapped by the `[jt808]` rules).
fn writer_settings(
    mqtt_cfg: &MqttConfig,
    pipeline_cfg: &PipelineConfig,
    jt808_cfg: &Jt808Config,
    relays: bool,
) -> writer::WriterSettings {
    writer::WriterSettings {
        owntracks_org: mqtt_cfg.owntracks_org.clone(),
        orgs: mqtt_cfg.orgs.clone(),
        checkpoint_every: Duration::from_millis(pipeline_cfg.checkpoint_interval_ms),
        relays: relays.then(|| jt808_cfg.clone()),
    }
}

/// The broker's session: where, who, and the topic filters of the orgs served.
fn connect_params(
    cfg: &MqttConfig,
    emqx_jt808: Option<String>,
) -> Result<mqtt::ConnectParams, IngestError> {
    // OwnTracks phones belong to `owntracks_org`: only the instance serving it listens.
    let owntracks = cfg.owntracks && (cfg.orgs.is_empty() || cfg.orgs.contains(&cfg.owntracks_org));
    let mut filters = codec::subscription_filters(&cfg.orgs, owntracks);
    // EMQX's JT/T 808 terminals belong to `[jt808] org`, likewise (see `emqx_jt808_filter`).
    filters.extend(emqx_jt808);
    let params = mqtt::ConnectParams::from_config(cfg, filters)?;
    info!(url = %cfg.url, client_id = %cfg.client_id, filters = ?params.filters, "starting ingest");
    Ok(params)
}

/// The pipeline's limits from its configuration.
fn flow_limits(cfg: &PipelineConfig) -> flow::FlowLimits {
    flow::FlowLimits {
        batch_rows: cfg.batch_max_rows.max(1),
        batch_age: Duration::from_millis(cfg.batch_max_age_ms),
        pause_messages: cfg.max_held_messages.max(2),
        resume_messages: cfg.max_held_messages.max(2) / 2,
        pause_bytes: cfg.max_held_bytes.max(2),
        resume_bytes: cfg.max_held_bytes.max(2) / 2,
        batches_in_flight: 1,
    }
}

/// Starts the MQTT connection on a thread of its own: decoding, the engines
/// and the database work must never starve it of the CPU it needs to write
/// acks and answer the broker's keep-alive. The receiver fires when it ends.
fn spawn_connection(
    params: mqtt::ConnectParams,
    pipeline: Arc<pipeline::Pipeline>,
    state: Arc<ConnectionState>,
    metrics: Metrics,
    stop: CancellationToken,
) -> Result<tokio::sync::oneshot::Receiver<()>, IngestError> {
    let (done_tx, done) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("mqtt-connection".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(mqtt::run(params, pipeline, state, metrics, stop)),
                Err(e) => {
                    tracing::error!(error = %e, "could not start the MQTT connection's runtime")
                }
            }
            let _ = done_tx.send(());
        })
        .map_err(|e| IngestError::Config(format!("could not start the MQTT thread: {e}")))?;
    Ok(done)
}

/// What [`run`] started, and how it is stopped.
struct Running {
    pipeline: Arc<pipeline::Pipeline>,
    writer: tokio::task::JoinHandle<()>,
    watchdog: tokio::task::JoinHandle<()>,
    terminals: Option<tokio::task::JoinHandle<()>>,
    /// Fires when the connection's thread ends.
    connection: tokio::sync::oneshot::Receiver<()>,
    stop_connection: CancellationToken,
    stop_accepting: CancellationToken,
    stop_terminals: CancellationToken,
}

impl Running {
    /// This instance lost its lease: another may take over the session at any
    /// moment, so stop at once instead of draining. What is held and not
    /// committed was never acknowledged: the broker redelivers it to the next
    /// holder of the session (duplicates are stored once).
    async fn abandon(mut self) {
        self.stop_connection.cancel();
        self.stop_accepting.cancel();
        self.stop_terminals.cancel();
        self.writer.abort();
        self.watchdog.abort();
        self.pipeline.close();
        if let Some(t) = self.terminals.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        if tokio::time::timeout(Duration::from_secs(5), &mut self.connection)
            .await
            .is_err()
        {
            warn!("the MQTT connection did not close within 5 s");
        }
        info!(
            held = self.pipeline.held(),
            "stepped down: ingest stopped, nothing held was acknowledged"
        );
    }

    /// Waits up to `grace` for the writer to commit what the closed pipeline holds.
    async fn drain(&mut self, grace: Duration) {
        match tokio::time::timeout(grace, &mut self.writer).await {
            Ok(_) => info!("ingest drained: everything received was committed"),
            Err(_) => {
                warn!(
                    ?grace,
                    held = self.pipeline.held(),
                    "shutdown grace elapsed before the last batch committed; the broker keeps what was not acknowledged"
                );
                self.writer.abort();
            }
        }
    }

    /// After the writer: the connections write the acks and answers still
    /// due, then DISCONNECT and close.
    async fn close(mut self) {
        self.watchdog.abort();
        self.stop_connection.cancel();
        self.stop_accepting.cancel();
        self.stop_terminals.cancel();
        if let Some(t) = self.terminals.take()
            && tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .is_err()
        {
            warn!("the JT/T 808 connections did not close within 5 s");
        }
        if tokio::time::timeout(Duration::from_secs(5), &mut self.connection)
            .await
            .is_err()
        {
            warn!("the MQTT connection did not close within 5 s");
        }
    }
}
