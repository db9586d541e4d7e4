//! The MQTT connection of the ingester: MQTT 3.1.1, QoS 1, a persistent
//! session, acknowledgements written only after commit.
//!
//! - [`ConnectParams`]: what to connect to, from [`MqttConfig`] (URL, TLS,
//!   credentials, client id, keep-alive, subscriptions).
//! - `keepalive`: when to ping and when a silent broker is dead (pure).
//! - `conn`: the IO shell. The socket is split in two halves that never wait
//!   for each other: the reader reads only while the flow control allows it
//!   (back-pressure is TCP's: the broker keeps what we do not read), the
//!   writer writes acknowledgements and pings whenever there are some. This is
//!   why the connection reads and writes itself instead of going through
//!   rumqttc's `EventLoop`: an event loop that reads and writes in one poll
//!   cannot stop reading without also stopping its acknowledgements, which is
//!   how ingest deadlocked under a backlog burst. Packets are encoded and
//!   decoded with rumqttc's `mqttbytes`.

mod conn;
mod keepalive;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub(crate) use conn::run;

use crate::IngestError;
use crate::config::MqttConfig;
use crate::metrics::Metrics;

/// Everything needed to open a session with the broker.
#[derive(Clone)]
pub struct ConnectParams {
    pub host: String,
    pub port: u16,
    /// `Some` for `mqtts://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// What `tls` trusts: `mqtt.ca_file`, or the system's roots when `None`
    /// (named in handshake errors).
    pub ca_file: Option<std::path::PathBuf>,
    pub client_id: String,
    pub keep_alive: Duration,
    pub username: Option<String>,
    pub password: Option<secrecy::SecretString>,
    /// Largest packet read from the broker.
    pub max_packet_bytes: usize,
    /// Subscribed to (QoS 1) when the broker has no session for us.
    pub filters: Vec<String>,
}

impl std::fmt::Debug for ConnectParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl ConnectParams {
    /// Reads the broker URL, credentials and TLS settings from configuration.
    pub fn from_config(cfg: &MqttConfig, filters: Vec<String>) -> Result<Self, IngestError> {
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
            .ok_or_else(|| IngestError::Config(format!("mqtt url {:?} has no host", cfg.url)))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
        let tls = if tls {
            Some(tls::client_config(cfg.ca_file.as_deref())?)
        } else {
            None
        };
        Ok(Self {
            host,
            port,
            tls,
            ca_file: cfg.ca_file.clone(),
            client_id: cfg.client_id.clone(),
            keep_alive: Duration::from_secs(cfg.keep_alive_secs.clamp(5, u16::MAX as u64)),
            username: cfg.username.clone(),
            password: cfg.password.clone(),
            max_packet_bytes: cfg.max_packet_bytes,
            filters,
        })
    }
}

/// rustls needs one process-wide crypto provider; we build with ring.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Shared view of the connection for readiness checks.
#[derive(Debug, Default)]
pub struct ConnectionState {
    connected: AtomicBool,
    /// The broker refused a topic filter in its last SUBACK.
    refused: AtomicBool,
}

impl ConnectionState {
    /// Whether the broker connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Whether the broker refused one of our topic filters (NATS does when
    /// the session's `max_ack_pending` would exceed 65,535): connected, but
    /// not ingesting everything. Cleared by a SUBACK that grants them all.
    pub fn subscription_refused(&self) -> bool {
        self.refused.load(Ordering::Acquire)
    }

    fn set_refused(&self, refused: usize, metrics: &Metrics) {
        self.refused.store(refused > 0, Ordering::Release);
        metrics.mqtt_subscriptions_refused.set(refused as i64);
    }

    fn set_connected(&self, up: bool, metrics: &Metrics) {
        self.connected.store(up, Ordering::Release);
        metrics.mqtt_connected.set(i64::from(up));
    }
}
