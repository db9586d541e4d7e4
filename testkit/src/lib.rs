//! The one home of what sweepwatch's tests, benchmarks and `sweepwatch demo`
//! need to stand up real services on this machine:
//!
//! - [`Mosquitto`]: a Mosquitto of the caller's own with the project's
//!   configuration (`deploy/mosquitto/sweepwatch.conf`), on a free port, its
//!   state in a temporary directory, killed on drop; SIGKILL, SIGTERM,
//!   snapshot (SIGUSR1) and restart for the chaos tests;
//! - [`RabbitMq`] and [`Nats`]: the other brokers sweepwatch supports, each a
//!   node of the test's own, and [`AnyBroker`] over the three;
//! - [`TestDb`]: a PostgreSQL database of the test's own, dropped on drop;
//! - [`free_port`], [`unique`], [`eventually`];
//! - `script` (feature `script`): the fix-script language, timed fixes of
//!   several devices in local metres, rendered as the MQTT contract's
//!   payloads (or adapted to `geofence::Fix` by the engine's tests).
//!
//! Nothing here is a stand-in: every launcher starts the real server binary.
//! Set `TEST_LOG=1` to see the servers' output.

pub mod brokers;
pub mod db;
pub mod mosquitto;
pub mod nats;
pub mod rabbitmq;
#[cfg(feature = "script")]
pub mod script;

pub use brokers::{AnyBroker, Kind};
pub use db::TestDb;
pub use mosquitto::Mosquitto;
pub use nats::Nats;
pub use rabbitmq::RabbitMq;

use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 nobody listens on right now, for a server the test
/// starts.
///
/// It is taken below the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`), at random: a port from that
/// range may be handed to any outgoing connection (a test's client to
/// PostgreSQL, say) between this call and the server's bind, which made a
/// cluster fail to start in CI with "Address already in use". Only another
/// test's `free_port` can pick the same port, one chance in about 12,000.
/// Falls back to an ephemeral port when the range leaves no room below it.
pub fn free_port() -> u16 {
    const LOWEST: u16 = 20_000;
    let below = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&low| low > LOWEST + 1_000);
    if let Some(below) = below {
        for _ in 0..1_000 {
            let port = LOWEST + (random() % u64::from(below - LOWEST)) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port on 127.0.0.1")
        .local_addr()
        .expect("local address of an ephemeral port")
        .port()
}

/// A different number at every call (std's per-call random hasher keys).
fn random() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(unique(""))
}

/// A name unique to this process and call (letters, digits and `x` after
/// `prefix`: usable as a database name, a client id, a directory name).
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

/// Polls `check` every 50 ms until it returns `Some`, or panics with `what`
/// after `timeout`.
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

/// Whether `TEST_LOG` asks to see the servers' output.
pub(crate) fn verbose() -> bool {
    std::env::var_os("TEST_LOG").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_keep_their_prefix() {
        let (a, b) = (unique("sw_"), unique("sw_"));
        assert_ne!(a, b);
        assert!(a.starts_with("sw_") && b.starts_with("sw_"));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port();
        TcpListener::bind(("127.0.0.1", port)).expect("the free port is free");
    }

    #[test]
    fn free_ports_stay_below_the_ephemeral_range_and_differ() {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
        let low: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
        let ports: std::collections::HashSet<u16> = (0..50).map(|_| free_port()).collect();
        if low > 21_000 {
            assert!(
                ports.iter().all(|&p| (20_000..low).contains(&p)),
                "{ports:?}"
            );
        }
        assert!(ports.len() > 40, "50 picks gave {} ports", ports.len());
    }

    #[tokio::test]
    async fn eventually_returns_the_first_some() {
        let mut n = 0;
        let v = eventually(Duration::from_secs(5), "the third poll", || {
            n += 1;
            let n = n;
            async move { (n >= 3).then_some(n) }
        })
        .await;
        assert_eq!(v, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after")]
    async fn eventually_panics_after_its_timeout() {
        eventually(Duration::from_millis(120), "nothing", || async {
            None::<()>
        })
        .await;
    }
}
