//! One MQTT connection: a rumqttc `AsyncClient` plus its `EventLoop`, polled in a task of
//! its own that counts acknowledgements and received messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Outgoing, Packet, QoS, SubAck};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::LoadError;
use crate::mqtt::{self, BrokerOptions, Tuning, redact_url};

/// How long to wait for the broker's CONNACK. rumqttc gives up on the TCP/TLS connect
/// and CONNACK after its own 5 s connection timeout; this is the backstop above it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters a connection's event loop keeps.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Publishes handed to the client (incremented by the publisher).
    pub published: AtomicU64,
    /// Publishes the broker acknowledged: PUBACK for QoS 1, PUBCOMP for QoS 2, written
    /// to the socket for QoS 0.
    pub acked: AtomicU64,
}

/// What the event loop task does with incoming traffic.
pub struct Role {
    /// The QoS this connection publishes at: decides which packet counts as an ack.
    pub publish_qos: QoS,
    /// Counts every incoming PUBLISH (a subscriber's counter).
    pub received: Option<Arc<AtomicU64>>,
    /// Gets the first SUBACK.
    pub suback: Option<oneshot::Sender<SubAck>>,
}

/// A connected client whose event loop runs in its own task.
pub struct Connection {
    pub client: AsyncClient,
    pub stats: Arc<ConnStats>,
    name: String,
    driver: JoinHandle<Result<(), LoadError>>,
}

impl Connection {
    /// Connects as `client_id` and waits (bounded) for the CONNACK. If the connection
    /// later fails, its task cancels `failed` and [`Connection::close`] returns the error.
    pub async fn open(
        broker: &BrokerOptions,
        client_id: String,
        tuning: Tuning,
        role: Role,
        failed: CancellationToken,
    ) -> Result<Self, LoadError> {
        let options = mqtt::mqtt_options(broker, &client_id, tuning)?;
        let (client, eventloop) = AsyncClient::new(options, tuning.request_cap.max(1));
        let url = redact_url(&broker.url);
        let stats = Arc::new(ConnStats::default());
        let (connected_tx, connected_rx) = oneshot::channel();
        let driver = tokio::spawn(drive(Driver {
            eventloop,
            role,
            stats: stats.clone(),
            connected: Some(connected_tx),
            failed,
            url: url.clone(),
            name: client_id.clone(),
        }));
        let outcome = tokio::time::timeout(CONNECT_TIMEOUT, connected_rx).await;
        let failure = match outcome {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(source))) => Some(LoadError::Connect {
                url,
                source: Box::new(source),
            }),
            // The task ended without a word: it can only have panicked or been aborted.
            Ok(Err(_)) => Some(LoadError::Closed {
                url,
                connection: client_id.clone(),
            }),
            Err(_) => Some(LoadError::ConnectTimeout {
                url,
                after: CONNECT_TIMEOUT,
            }),
        };
        if let Some(err) = failure {
            driver.abort();
            return Err(err);
        }
        Ok(Self {
            client,
            stats,
            name: client_id,
            driver,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends DISCONNECT and waits up to `within` for the event loop task to end. Returns
    /// the error the connection failed with, if it did.
    pub async fn close(mut self, within: Duration) -> Result<(), LoadError> {
        if !self.driver.is_finished() {
            // A full request channel or a dead loop must not hold up shutdown.
            let _ = tokio::time::timeout(within, self.client.disconnect()).await;
        }
        match tokio::time::timeout(within, &mut self.driver).await {
            Ok(joined) => joined?,
            Err(_) => {
                tracing::warn!(connection = %self.name, "MQTT event loop did not stop; aborting it");
                self.driver.abort();
                Ok(())
            }
        }
    }
}

struct Driver {
    eventloop: EventLoop,
    role: Role,
    stats: Arc<ConnStats>,
    connected: Option<oneshot::Sender<Result<(), ConnectionError>>>,
    failed: CancellationToken,
    url: String,
    name: String,
}

/// Polls the event loop until DISCONNECT is sent or the connection fails. rumqttc would
/// reconnect on the next poll after an error; a load run stops instead, since a
/// reconnect with a clean session silently loses the in-flight window.
async fn drive(mut d: Driver) -> Result<(), LoadError> {
    loop {
        let event = match d.eventloop.poll().await {
            Ok(event) => event,
            Err(source) => return d.fail(source),
        };
        match event {
            Event::Incoming(Packet::ConnAck(_)) => {
                if let Some(tx) = d.connected.take() {
                    let _ = tx.send(Ok(()));
                }
            }
            Event::Incoming(Packet::PubAck(_)) if d.role.publish_qos == QoS::AtLeastOnce => {
                d.stats.acked.fetch_add(1, Ordering::Relaxed);
            }
            Event::Incoming(Packet::PubComp(_)) if d.role.publish_qos == QoS::ExactlyOnce => {
                d.stats.acked.fetch_add(1, Ordering::Relaxed);
            }
            Event::Outgoing(Outgoing::Publish(_)) if d.role.publish_qos == QoS::AtMostOnce => {
                d.stats.acked.fetch_add(1, Ordering::Relaxed);
            }
            Event::Incoming(Packet::Publish(_)) => {
                if let Some(counter) = &d.role.received {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
            Event::Incoming(Packet::SubAck(ack)) => {
                if let Some(tx) = d.role.suback.take() {
                    let _ = tx.send(ack);
                }
            }
            Event::Outgoing(Outgoing::Disconnect) => return Ok(()),
            _ => {}
        }
    }
}

impl Driver {
    fn fail(mut self, source: ConnectionError) -> Result<(), LoadError> {
        if let Some(tx) = self.connected.take() {
            // Not connected yet: `Connection::open` reports it.
            let _ = tx.send(Err(source));
            return Ok(());
        }
        if matches!(source, ConnectionError::RequestsDone) {
            // Every client handle is gone: nobody can publish any more.
            return Ok(());
        }
        tracing::warn!(connection = %self.name, error = %source, "MQTT connection failed");
        self.failed.cancel();
        Err(LoadError::ConnectionLost {
            url: self.url,
            connection: self.name,
            source: Box::new(source),
        })
    }
}
