//! The ingest lease: at most one instance ingests for an MQTT client id.
//!
//! The lease is a session-level advisory lock (`pg_try_advisory_lock`) held on a
//! connection of its own, outside the pool. PostgreSQL releases it when that
//! session ends: at once when the holder's process dies (its socket closes), and
//! within about ten seconds when the link silently goes away (the session's own
//! TCP keep-alives, set below, make the server notice a dead peer). The holder
//! checks its session at a shorter interval than that and stops ingesting as
//! soon as a check fails, so it has stepped down before a standby can acquire.
//! Advisory locks are per database: instances writing to other databases never
//! compete.

use std::time::Duration;

use crate::{DbTarget, StoreError};

/// The lock key of the lease for `name` (the MQTT client id): the 64-bit FNV-1a
/// hash of a prefixed name, stable across versions and platforms.
pub fn lease_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"sweepwatch-ingest-lease:"
        .iter()
        .chain(name.as_bytes().iter())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// A held lease. Dropping it closes its session, which releases the lock.
pub struct Lease {
    client: tokio_postgres::Client,
    key: i64,
    backend_pid: i32,
}

impl Lease {
    /// Takes the lease for `name` if no other session holds it: `Ok(None)`
    /// when another instance is active.
    pub async fn try_acquire(target: &DbTarget, name: &str) -> Result<Option<Lease>, StoreError> {
        let client = target.connect().await?;
        // The server notices a silently vanished holder within 5 + 2 x 2 s.
        client
            .batch_execute(
                "SET application_name = 'sweepwatch ingest lease';
                 SET tcp_keepalives_idle = 5;
                 SET tcp_keepalives_interval = 2;
                 SET tcp_keepalives_count = 2;",
            )
            .await?;
        let key = lease_key(name);
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1), pg_backend_pid()", &[&key])
            .await?;
        if !row.get::<_, bool>(0) {
            return Ok(None);
        }
        Ok(Some(Lease {
            client,
            key,
            backend_pid: row.get(1),
        }))
    }

    /// Whether the session holding the lease still answers within `timeout`
    /// (the lock lives exactly as long as the session).
    pub async fn check(&self, timeout: Duration) -> Result<(), StoreError> {
        match tokio::time::timeout(timeout, self.client.simple_query("SELECT 1")).await {
            Ok(r) => r.map(|_| ()).map_err(StoreError::Db),
            Err(_) => Err(StoreError::Timeout(format!(
                "the lease's session did not answer within {timeout:?}"
            ))),
        }
    }

    /// The lock key (for `pg_locks`).
    pub fn key(&self) -> i64 {
        self.key
    }

    /// The server process of the lease's session (for `pg_stat_activity`).
    pub fn backend_pid(&self) -> i32 {
        self.backend_pid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a 64 of `sweepwatch-ingest-lease:sweepwatch-ingest`, computed apart.
    const PINNED: i64 = -5_552_759_341_111_745_926;

    #[test]
    fn the_key_is_stable_and_differs_by_client_id() {
        assert_eq!(
            lease_key("sweepwatch-ingest"),
            lease_key("sweepwatch-ingest")
        );
        assert_ne!(
            lease_key("sweepwatch-ingest"),
            lease_key("sweepwatch-ingest-2")
        );
        // Pinned: instances of different versions must compute the same key.
        assert_eq!(lease_key("sweepwatch-ingest"), PINNED);
    }
}
