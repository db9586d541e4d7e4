//! The three brokers the end-to-end suite runs against, behind one type: the
//! test kit's [`testkit::AnyBroker`] (Mosquitto, RabbitMQ with its MQTT
//! plugin, NATS with JetStream and its MQTT listener).

pub use testkit::{AnyBroker, Kind};
