//! Ingest without the MQTT transport: messages (topic + payload) handed over
//! in-process, into the same pipeline and writer [`crate::run`] starts, for
//! the tests whose subject is the engine's behaviour in the pipeline, not the
//! broker.
//!
//! ```text
//! send(topic, payload) --Pipeline::received_in_process--> Flow --next_batch--> Writer --COMMIT--> settled()
//!   (waits while the flow pauses reading)     (decodes)                     (engines, one transaction)
//! ```
//!
//! What is the same as over MQTT: the subscription filters (a topic the
//! instance would not subscribe to is refused), the decoder (with the time of
//! receipt), the flow's batching and pause, the writer with its engines,
//! transaction, error handling, housekeeping (wall-clock timers, checkpoints,
//! configuration reloads) and metrics. What is absent: the connection, packet
//! ids and acknowledgements (each message carries a one-shot that the writer
//! fires after its commit, as for a JT/T 808 terminal's report), the stall
//! watchdog, EMQX's JT/T 808 input and the JT/T 808 listener.

use std::sync::Arc;

use live::LiveView;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{MqttConfig, PipelineConfig};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::writer::{Writer, WriterSettings};
use crate::{IngestError, codec, flow_limits};

/// The pipeline and its writer, fed in-process. Dropped, the writer stops
/// (what was not committed is lost, as with a SIGKILL); [`InProcess::stop`]
/// commits first.
pub struct InProcess {
    pipeline: Arc<Pipeline>,
    writer: Option<JoinHandle<()>>,
    filters: Vec<String>,
    /// One per message sent and not yet known committed, in order.
    pending: Vec<oneshot::Receiver<()>>,
    registry: prometheus::Registry,
    metrics: Metrics,
    live: Arc<LiveView>,
}

impl InProcess {
    /// Starts the writer on `pool` with the settings `serve` would take from
    /// `[mqtt]` (orgs served, OwnTracks) and `[pipeline]`. Its metrics are in
    /// a registry of its own ([`InProcess::registry`]). Spawns the writer:
    /// call it inside a Tokio runtime.
    pub fn start(pool: store::Pool, mqtt: &MqttConfig, pipeline: &PipelineConfig) -> Self {
        let registry = prometheus::Registry::new();
        let metrics = Metrics::register(&registry).expect("a fresh registry takes every metric");
        let live = Arc::new(LiveView::default());
        let codec_limits = codec::limits_for_retention(pipeline.retention_days);
        let pipe = Arc::new(Pipeline::new(
            flow_limits(pipeline),
            codec_limits,
            metrics.clone(),
        ));
        let settings = WriterSettings {
            owntracks_org: mqtt.owntracks_org.clone(),
            orgs: mqtt.orgs.clone(),
            checkpoint_every: std::time::Duration::from_millis(pipeline.checkpoint_interval_ms),
            relays: None,
        };
        let writer = Writer::new(pool, metrics.clone(), settings, live.clone());
        let writer = tokio::spawn(writer.run(pipe.clone()));
        Self {
            pipeline: pipe,
            writer: Some(writer),
            filters: codec::subscription_filters(&mqtt.orgs, mqtt.owntracks),
            pending: Vec::new(),
            registry,
            metrics,
            live,
        }
    }

    /// Hands one message to the pipeline, as if the connection had read it
    /// (waiting first while the flow has paused reading). Returns once it is
    /// queued, not committed: see [`InProcess::settled`]. A topic none of the
    /// instance's subscriptions matches is refused: the broker would never
    /// deliver it.
    pub async fn send(
        &mut self,
        topic: &str,
        payload: impl Into<bytes::Bytes>,
    ) -> Result<(), IngestError> {
        if !self.filters.iter().any(|f| rumqttc::matches(topic, f)) {
            return Err(IngestError::NotSubscribed(topic.to_owned()));
        }
        let mut reading = self.pipeline.reading();
        while !*reading.borrow_and_update() {
            reading
                .changed()
                .await
                .map_err(|_| IngestError::Task("pipeline", "closed".into()))?;
        }
        let (tx, rx) = oneshot::channel();
        self.pipeline
            .received_in_process(topic.to_owned(), payload.into(), tx);
        self.pending.push(rx);
        Ok(())
    }

    /// Waits until everything sent so far is committed (stored, or kept as a
    /// reject), with what the engines derived from it.
    pub async fn settled(&mut self) -> Result<(), IngestError> {
        for rx in self.pending.drain(..) {
            rx.await
                .map_err(|_| IngestError::Task("writer", "dropped a message uncommitted".into()))?;
        }
        Ok(())
    }

    /// Closes the pipeline, commits what it holds and waits for the writer
    /// (which leaves a final checkpoint), as `serve` does at shutdown.
    pub async fn stop(mut self) -> Result<(), IngestError> {
        self.pipeline.close();
        if let Some(w) = self.writer.take() {
            w.await
                .map_err(|e| IngestError::Task("writer", e.to_string()))?;
        }
        Ok(())
    }

    /// The registry holding this pipeline's `sweepwatch_*` metrics.
    pub fn registry(&self) -> &prometheus::Registry {
        &self.registry
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The live view the writer feeds (committed positions and alert transitions).
    pub fn live(&self) -> &Arc<LiveView> {
        &self.live
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            w.abort();
        }
    }
}
