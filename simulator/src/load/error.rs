use std::time::Duration;

use thiserror::Error;

use crate::mqtt::BrokerUrlError;

/// Why a load run or a counting subscriber failed. URLs in messages have their password
/// redacted. rumqttc's connection error is boxed: it is large, and errors are rare.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("invalid load options: {0}")]
    InvalidOptions(String),
    #[error(transparent)]
    Url(#[from] BrokerUrlError),
    #[error("cannot connect to the MQTT broker at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: Box<rumqttc::ConnectionError>,
    },
    #[error("no answer from the MQTT broker at {url} within {after:?}")]
    ConnectTimeout { url: String, after: Duration },
    #[error("MQTT connection {connection} to {url} failed during the run: {source}")]
    ConnectionLost {
        url: String,
        connection: String,
        #[source]
        source: Box<rumqttc::ConnectionError>,
    },
    #[error("MQTT connection {connection} to {url} closed unexpectedly")]
    Closed { url: String, connection: String },
    #[error("the broker at {url} refused the subscription to {filter:?}")]
    SubscribeRefused { url: String, filter: String },
    #[error("a load task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
