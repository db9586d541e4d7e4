//! The MQTT connection: options from configuration, and the event-loop task.
//!
//! The event loop is polled in its own task and never awaits anything but the
//! socket: a received PUBLISH is pushed onto the [`InboundQueue`] without
//! waiting, and acknowledgements come back through the client's request
//! channel, which this loop drains. Awaiting a full pipeline here would stop
//! the loop from sending those acks and deadlock. Why the push cannot lose a
//! QoS 1 message is explained in [`crate::queue`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, SubscribeReasonCode,
    Transport,
};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::IngestError;
use crate::config::MqttConfig;
use crate::metrics::Metrics;
use crate::queue::{HIGH_WATER, InboundQueue, LOW_WATER};
use crate::ratelog::RateLimitedLog;

/// Capacity of the client's request channel (acks, subscribe, disconnect):
/// every message the queue and the batches in flight can hold, so an ack never waits.
pub const REQUEST_CHANNEL: usize = crate::queue::CAPACITY + 32_768;

/// A message as received, with what is needed to acknowledge it later.
#[derive(Debug)]
pub struct Inbound {
    pub topic: String,
    pub payload: bytes::Bytes,
    pub ack: AckToken,
    pub received_at: DateTime<Utc>,
}

/// Enough of a PUBLISH to acknowledge it on the connection it came on.
#[derive(Debug, Clone, Copy)]
pub struct AckToken {
    pub qos: QoS,
    pub pkid: u16,
    /// Which connection delivered it. After a reconnect the broker redelivers
    /// whatever was not acknowledged, and packet ids from the old connection
    /// may name other messages on the new one, so old acks are dropped.
    pub epoch: u64,
}

/// Builds the client options from configuration.
pub fn options(cfg: &MqttConfig) -> Result<MqttOptions, IngestError> {
    let url = url::Url::parse(&cfg.url)
        .map_err(|e| IngestError::Config(format!("mqtt url {:?}: {e}", cfg.url)))?;
    let tls = match url.scheme() {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" => true,
        other => {
            return Err(IngestError::Config(format!(
                "mqtt url scheme {other:?}: use mqtt:// or mqtts://"
            )));
        }
    };
    let host = url
        .host_str()
        .ok_or_else(|| IngestError::Config(format!("mqtt url {:?} has no host", cfg.url)))?;
    let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
    let mut opts = MqttOptions::new(cfg.client_id.clone(), host, port);
    opts.set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(cfg.keep_alive_secs.max(5)))
        .set_max_packet_size(cfg.max_packet_bytes, 64 * 1024)
        // Acks for whole batches are queued at once, also while the loop has
        // stopped reading (back-pressure); they must never block the writer.
        .set_request_channel_capacity(REQUEST_CHANNEL);
    if let Some(user) = &cfg.username {
        opts.set_credentials(user.clone(), cfg.password.clone().unwrap_or_default());
    }
    if tls {
        install_crypto_provider();
        let transport = match &cfg.ca_file {
            Some(path) => {
                let ca = std::fs::read(path).map_err(|e| {
                    IngestError::Config(format!("mqtt ca_file {}: {e}", path.display()))
                })?;
                Transport::tls(ca, None, None)
            }
            None => Transport::tls_with_default_config(),
        };
        opts.set_transport(transport);
    }
    Ok(opts)
}

/// rustls needs one process-wide crypto provider; we build with ring.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Shared view of the connection for the pipeline and readiness checks.
#[derive(Debug, Default)]
pub struct ConnectionState {
    epoch: AtomicU64,
    connected: AtomicBool,
}

impl ConnectionState {
    /// Whether the broker connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    fn set_connected(&self, up: bool, metrics: &Metrics) {
        self.connected.store(up, Ordering::Release);
        metrics.mqtt_connected.set(i64::from(up));
    }

    /// The current connection's epoch; 0 while never connected.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }
}

pub(crate) struct EventLoopTask {
    pub eventloop: EventLoop,
    pub client: AsyncClient,
    pub filters: Vec<String>,
    pub state: Arc<ConnectionState>,
    pub metrics: Metrics,
    /// Stop handing messages to the pipeline (shutdown has begun).
    pub stop_reading: CancellationToken,
    /// Stop polling altogether (acks are flushed, or we gave up).
    pub stop_polling: CancellationToken,
}

impl EventLoopTask {
    pub async fn run(mut self, queue: Arc<InboundQueue>) {
        let mut reading = true;
        let mut errors = RateLimitedLog::new(Duration::from_secs(60), 5);
        let mut backoff = Duration::from_millis(200);
        loop {
            if reading && queue.len() >= HIGH_WATER {
                // Back-pressure: stop reading until the pipeline has caught up.
                self.metrics.queue_pauses.inc();
                while queue.len() >= LOW_WATER
                    && !self.stop_reading.is_cancelled()
                    && !self.stop_polling.is_cancelled()
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            let event = tokio::select! {
                biased;
                _ = self.stop_polling.cancelled() => break,
                _ = self.stop_reading.cancelled(), if reading => {
                    // Closing the queue lets the pipeline flush what it has.
                    reading = false;
                    queue.close();
                    continue;
                }
                ev = self.eventloop.poll() => ev,
            };
            match event {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if !reading {
                        continue; // shutting down: the broker redelivers it
                    }
                    let inbound = Inbound {
                        topic: p.topic,
                        payload: p.payload,
                        ack: AckToken {
                            qos: p.qos,
                            pkid: p.pkid,
                            epoch: self.state.epoch(),
                        },
                        received_at: Utc::now(),
                    };
                    match queue.push(inbound) {
                        Ok(()) => self.metrics.queue_depth.inc(),
                        Err(m) if m.ack.qos == QoS::AtMostOnce => {
                            self.metrics.messages.with_label_values(&["dropped"]).inc();
                            if errors.allow(|n| {
                                warn!(suppressed = n, "MQTT warnings (log lines suppressed)")
                            }) {
                                warn!(topic = %m.topic, "inbound queue full, QoS 0 message dropped");
                            }
                        }
                        Err(m) => {
                            // Never drop what the broker will not send again: drop the
                            // connection instead; it redelivers everything unacknowledged.
                            self.metrics.queue_resyncs.inc();
                            warn!(topic = %m.topic, "inbound queue full: reconnecting so the broker redelivers");
                            self.eventloop.clean();
                            self.state.set_connected(false, &self.metrics);
                        }
                    }
                }
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    backoff = Duration::from_millis(200);
                    let epoch = self.state.epoch.fetch_add(1, Ordering::AcqRel) + 1;
                    self.state.set_connected(true, &self.metrics);
                    self.metrics.mqtt_reconnects.inc();
                    // The broker redelivers everything unacknowledged: drop the old copies.
                    let purged = queue.purge_before(epoch);
                    self.metrics.queue_depth.sub(purged as i64);
                    info!(
                        session_present = ack.session_present,
                        epoch, purged, "connected to MQTT broker"
                    );
                    if !ack.session_present {
                        self.subscribe();
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(suback))) => {
                    if suback
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, SubscribeReasonCode::Failure))
                    {
                        error!(filters = ?self.filters, codes = ?suback.return_codes, "broker refused a subscription");
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                    self.state.set_connected(false, &self.metrics);
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    self.state.set_connected(false, &self.metrics);
                    if errors.allow(|n| warn!(suppressed = n, "MQTT errors (log lines suppressed)"))
                    {
                        warn!(error = %e, retry_in = ?backoff, "MQTT connection error");
                    }
                    tokio::select! {
                        _ = self.stop_polling.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.state.set_connected(false, &self.metrics);
    }

    /// The broker did not keep our session (first start, or it lost its state):
    /// subscribe again. Sent from its own task: this loop must not await.
    fn subscribe(&self) {
        let client = self.client.clone();
        let filters: Vec<rumqttc::SubscribeFilter> = self
            .filters
            .iter()
            .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce))
            .collect();
        tokio::spawn(async move {
            if let Err(e) = client.subscribe_many(filters).await {
                error!(error = %e, "could not queue the subscription");
            }
        });
    }
}
