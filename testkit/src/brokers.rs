//! The three brokers the end-to-end suite runs against, behind one type:
//! Mosquitto ([`crate::mosquitto`]), RabbitMQ with its MQTT plugin
//! ([`crate::rabbitmq`]) and NATS with JetStream and its MQTT listener
//! ([`crate::nats`]). Each is a process of the test's own, on free ports.

use crate::mosquitto::Mosquitto;
use crate::nats::Nats;
use crate::rabbitmq::RabbitMq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mosquitto,
    RabbitMq,
    Nats,
}

pub enum AnyBroker {
    Mosquitto(Mosquitto),
    RabbitMq(RabbitMq),
    Nats(Nats),
}

impl AnyBroker {
    /// Starts a broker of `kind` and waits until it takes MQTT connections.
    /// Mosquitto writes its persistence file only when told to
    /// ([`AnyBroker::persist`]), so tests decide what a SIGKILL loses.
    pub fn start(kind: Kind) -> Self {
        // Booting RabbitMQ takes seconds: do not hold up the runtime's other work.
        tokio::task::block_in_place(|| match kind {
            Kind::Mosquitto => Self::Mosquitto(Mosquitto::start_with("autosave_interval 0")),
            Kind::RabbitMq => Self::RabbitMq(RabbitMq::start()),
            Kind::Nats => Self::Nats(Nats::start()),
        })
    }

    /// The MQTT port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        match self {
            Self::Mosquitto(b) => b.port,
            Self::RabbitMq(b) => b.port,
            Self::Nats(b) => b.port,
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port())
    }

    /// Makes what the broker acknowledged so far survive a SIGKILL.
    /// Mosquitto keeps its state in memory and writes it only in snapshots:
    /// this takes one (SIGUSR1) and waits for the file. RabbitMQ and NATS
    /// write a QoS 1 message to disk before they acknowledge it: nothing to do.
    pub fn persist(&self) {
        if let Self::Mosquitto(b) = self {
            tokio::task::block_in_place(|| b.save());
        }
    }

    /// SIGKILL of the broker: nothing is flushed.
    pub fn kill(&mut self) {
        tokio::task::block_in_place(|| match self {
            Self::Mosquitto(b) => b.kill(),
            Self::RabbitMq(b) => b.kill(),
            Self::Nats(b) => b.kill(),
        })
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) {
        tokio::task::block_in_place(|| match self {
            Self::Mosquitto(b) => b.restart(),
            Self::RabbitMq(b) => b.restart(),
            Self::Nats(b) => b.restart(),
        })
    }
}
