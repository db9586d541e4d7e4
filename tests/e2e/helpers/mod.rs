//! Shared test helpers (a JT/T 808 terminal among them): a real Mosquitto per test (the project's configuration,
//! a free port), or a RabbitMQ node or NATS server of the test's own
//! (`brokers`), a fresh PostgreSQL database per test, the `sweepwatch` binary
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
pub mod nats;
pub mod pgcluster;
pub mod proxy;
pub mod publisher;
pub mod rabbitmq;
pub mod service;
pub mod terminal;
pub mod town;

use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A name unique to this test process and call.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}{}x{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos % 100_000
    )
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
