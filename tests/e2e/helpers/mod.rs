//! Shared test helpers (a JT/T 808 terminal among them). The brokers and the
//! database per test are the `testkit` crate's (re-exported here under their
//! old names): a real Mosquitto per test (the project's configuration, a free
//! port), or a RabbitMQ node or NATS server of the test's own (`brokers`), a
//! fresh PostgreSQL database per test; here: the `sweepwatch` binary
//! as a child process, an MQTT publisher, a burst publisher (`mosquitto_pub`),
//! a TCP proxy to cut the database, a PostgreSQL cluster of the test's own
//! (with TLS if asked), and certificates for TLS tests.
//! Set `TEST_LOG=1` to see the service's log.

pub mod api;
pub mod broker;
pub mod brokers;
pub mod burst;
pub mod certs;
pub mod db;
pub mod pgcluster;
pub mod proxy;
pub mod publisher;
pub mod service;
pub mod terminal;
pub mod town;

// One free port, one unique name, one polling helper for the whole
// workspace: the test kit's.
pub use testkit::{eventually, free_port, unique};
